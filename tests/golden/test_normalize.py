"""Tests for golden.normalize: worked examples plus hypothesis properties for the invariants."""

from __future__ import annotations

import re
import socket

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum import vatin
from stdnum.au import abn as au_abn
from stdnum.br import cnpj as br_cnpj
from stdnum.ca import bn as ca_bn
from stdnum.ch import uid as ch_uid
from stdnum.fr import siren as fr_siren
from stdnum.in_ import gstin as in_gstin
from stdnum.jp import cn as jp_cn
from stdnum.us import ein as us_ein

from golden.normalize import (
    CompanyName,
    TaxId,
    evidence_domain,
    is_free_mail_domain,
    normalize_city,
    normalize_company_name,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    normalize_registration_number,
    normalize_street,
    normalize_tax_id,
    normalize_text,
)

NAME_KEY = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")
ACCENTS = {
    "a": "áàâäãå",
    "e": "éèêë",
    "i": "íìîï",
    "o": "óòôöõ",
    "u": "úùûü",
    "c": "ç",
    "n": "ñ",
    "y": "ýÿ",
}
# Latin letters, digits, punctuation and spaces: what CRM exports actually contain.
latin_text = st.text(
    alphabet=st.characters(max_codepoint=0x24F, categories=("L", "N", "P", "S", "Zs")), max_size=40
)


@st.composite
def accented(draw: st.DrawFn, text: str) -> str:
    """Randomly put accents on the vowels (and c, n, y) of an ASCII string."""
    return "".join(draw(st.sampled_from(ch + ACCENTS[ch])) if ch in ACCENTS else ch for ch in text)


# ------------------------------------------------------------------------ normalize_text


def test_normalize_text_folds_accents_case_and_punctuation() -> None:
    assert normalize_text("  Héllo,  WORLD!! Straße ") == "hello world strasse"
    assert normalize_text("Søren Ærø-Łódź") == "soren aero lodz"
    assert normalize_text("ＡＣＭＥ　Ｉｎｃ") == "acme inc"  # full-width forms from JP systems
    assert normalize_text(None) == ""
    assert normalize_text("   ") == ""


@given(latin_text)
def test_normalize_text_is_idempotent_and_clean(value: str) -> None:
    once = normalize_text(value)
    assert normalize_text(once) == once
    assert once == "" or NAME_KEY.fullmatch(once)


# --------------------------------------------------------------------- normalize_country


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DE", "DE"),
        ("de", "DE"),
        ("DEU", "DE"),
        ("276", "DE"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("  germany ", "DE"),
        ("España", "ES"),
        ("Espana", "ES"),
        ("ESPAÑA", "ES"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States", "US"),
        ("United States of America", "US"),
        ("UK", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("United Kingdom", "GB"),
        ("Holland", "NL"),
        ("Nederland", "NL"),
        ("The Netherlands", "NL"),
        ("Schweiz", "CH"),
        ("Suisse", "CH"),
        ("Svizzera", "CH"),
        ("Switzerland", "CH"),
        ("Sverige", "SE"),
        ("Italia", "IT"),
        ("Brasil", "BR"),
        ("Nippon", "JP"),
        ("Japan", "JP"),
        ("Österreich", "AT"),
        ("Osterreich", "AT"),
        ("België", "BE"),
        ("Belgique", "BE"),
        ("Danmark", "DK"),
        ("Norge", "NO"),
        ("Suomi", "FI"),
        ("Polska", "PL"),
        ("Éire", "IE"),
        ("Bharat", "IN"),
        ("India", "IN"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("Viet Nam", "VN"),
        ("Vietnam", "VN"),
        ("Czech Republic", "CZ"),
        ("Russia", "RU"),
        ("Côte d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("République française", "FR"),
        ("Bundesrepublik Deutschland", "DE"),
        ("Commonwealth of Australia", "AU"),
        ("Reino de España", "ES"),
        ("Federal Republic of Germany", "DE"),
    ],
)
def test_normalize_country_accepts_codes_and_names(value: str, expected: str) -> None:
    assert normalize_country(value) == expected


@pytest.mark.parametrize("value", [None, "", "   ", "Narnia", "XX", "Europe"])
def test_normalize_country_unknown_is_none(value: str | None) -> None:
    assert normalize_country(value) is None


def test_normalize_country_is_cached() -> None:
    normalize_country("Liechtenstein")
    hits = normalize_country.cache_info().hits
    assert normalize_country("Liechtenstein") == "LI"
    assert normalize_country.cache_info().hits == hits + 1


# ------------------------------------------------------------------------- company names

# (spelling as typed, expected code): every form the product promises to recognise.
LEGAL_FORMS = [
    ("Inc", "INC"),
    ("Inc.", "INC"),
    ("INCORPORATED", "INC"),
    ("Corp.", "CORP"),
    ("Corporation", "CORP"),
    ("LLC", "LLC"),
    ("L.L.C.", "LLC"),
    ("Limited Liability Company", "LLC"),
    ("Ltd", "LTD"),
    ("Ltd.", "LTD"),
    ("Limited", "LTD"),
    ("Ltée", "LTD"),
    ("PLC", "PLC"),
    ("P.L.C.", "PLC"),
    ("LLP", "LLP"),
    ("L.L.P.", "LLP"),
    ("LP", "LP"),
    ("L.P.", "LP"),
    ("ULC", "ULC"),
    ("GmbH", "GMBH"),
    ("G.m.b.H.", "GMBH"),
    ("GmbH & Co. KG", "GMBH_CO_KG"),
    ("GmbH & Co KG", "GMBH_CO_KG"),
    ("GmbH u. Co. KG", "GMBH_CO_KG"),
    ("KG", "KG"),
    ("AG", "AG"),
    ("Aktiengesellschaft", "AG"),
    ("SE", "SE"),
    ("UG (haftungsbeschränkt)", "UG"),
    ("S.A.", "SA"),
    ("SA", "SA"),
    ("SAS", "SAS"),
    ("S.A.S.", "SAS"),
    ("SASU", "SAS"),
    ("SARL", "SARL"),
    ("S.à r.l.", "SARL"),
    ("Sàrl", "SARL"),
    ("B.V.", "BV"),
    ("BV", "BV"),
    ("N.V.", "NV"),
    ("NV", "NV"),
    ("S.L.", "SL"),
    ("SL", "SL"),
    ("S.L.U.", "SL"),
    ("S.p.A.", "SPA"),
    ("SpA", "SPA"),
    ("S.r.l.", "SRL"),
    ("Srl", "SRL"),
    ("Pty Ltd", "PTY_LTD"),
    ("Pty. Ltd.", "PTY_LTD"),
    ("Proprietary Limited", "PTY_LTD"),
    ("K.K.", "KK"),
    ("KK", "KK"),
    ("Kabushiki Kaisha", "KK"),
    ("Co., Ltd.", "CO_LTD"),
    ("Co. Ltd", "CO_LTD"),
    ("AB", "AB"),
    ("AB (publ)", "AB"),
    ("Ltda", "LTDA"),
    ("Ltda.", "LTDA"),
    ("S.A. de C.V.", "SA_DE_CV"),
    ("SA de CV", "SA_DE_CV"),
    ("Private Limited", "PVT_LTD"),
    ("Pvt Ltd", "PVT_LTD"),
    ("Pvt. Ltd.", "PVT_LTD"),
    ("Oy", "OY"),
    ("AS", "AS"),
    ("A/S", "AS"),
    ("ApS", "APS"),
    ("Sp. z o.o.", "SP_Z_OO"),
    ("s.r.o.", "SRO"),
    ("Pte. Ltd.", "PTE_LTD"),
    ("Sdn. Bhd.", "SDN_BHD"),
]


@pytest.mark.parametrize(("form", "code"), LEGAL_FORMS)
def test_legal_form_is_split_from_the_name(form: str, code: str) -> None:
    assert normalize_company_name(f"Zorvex Consulting {form}") == CompanyName(
        "zorvex consulting", code
    )
    assert normalize_company_name(f"Zorvex Consulting, {form}") == CompanyName(
        "zorvex consulting", code
    )


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("Acme, Inc.", None, CompanyName("acme", "INC")),
        ("ACME INCORPORATED", None, CompanyName("acme", "INC")),
        (
            "The Acme Intl Mfg Co.",
            None,
            CompanyName("acme international manufacturing company", None),
        ),
        ("Müller GmbH & Co. KG", None, CompanyName("muller", "GMBH_CO_KG")),
        ("Nestlé S.A.", "CH", CompanyName("nestle", "SA")),
        ("Société Générale S.A.", None, CompanyName("societe generale", "SA")),
        ("Banco Santander, S.A.", "ES", CompanyName("banco santander", "SA")),
        ("Qantas Airways Pty. Ltd.", "AU", CompanyName("qantas airways", "PTY_LTD")),
        (
            "Tata Consultancy Services Pvt. Ltd.",
            "IN",
            CompanyName("tata consultancy services", "PVT_LTD"),
        ),
        ("Cemex, S.A.B. de C.V.", "MX", CompanyName("cemex", "SA_DE_CV")),
        ("Goldman Sachs & Co. LLC", "US", CompanyName("goldman sachs and company", "LLC")),
        ("J.P. Morgan Chase & Co.", None, CompanyName("jp morgan chase and company", None)),
        ("McDonald's Corp", None, CompanyName("mcdonalds", "CORP")),
        (
            "Smith Bros. Assoc. Mgmt Svcs",
            None,
            CompanyName("smith brothers associates management services", None),
        ),
        (
            "Natl Tech Grp Sys Svc",
            None,
            CompanyName("national technology group systems services", None),
        ),
        ("Boeing Company, The", None, CompanyName("boeing company", None)),
        ("Søren Ærø ApS", "DK", CompanyName("soren aero", "APS")),
        ("Acme Ltd Inc", None, CompanyName("acme", "INC")),  # outermost form wins, none leak
        ("AG", None, CompanyName("ag", None)),  # a legal form that is the whole name stays
        ("The Limited", None, CompanyName("limited", None)),
        ("Inc.", "US", CompanyName("inc", None)),
    ],
)
def test_company_name_examples(value: str, country: str | None, expected: CompanyName) -> None:
    assert normalize_company_name(value, country) == expected


def test_japanese_forms_depend_on_country() -> None:
    assert normalize_company_name("Toyota Motor Co., Ltd.", "JP") == CompanyName(
        "toyota motor", "KK"
    )
    assert normalize_company_name("Toyota Motor Co., Ltd.", "Japan") == CompanyName(
        "toyota motor", "KK"
    )
    assert normalize_company_name("Toyota Motor Co., Ltd.") == CompanyName("toyota motor", "CO_LTD")
    assert normalize_company_name("Kabushiki Kaisha Toshiba") == CompanyName("toshiba", "KK")
    assert normalize_company_name("KK Sony", "JP") == CompanyName("sony", "KK")
    # Elsewhere a leading "KK" is part of the name.
    assert normalize_company_name("KK Engineering", "FI") == CompanyName("kk engineering", None)


def test_singapore_private_limited_is_pte_ltd() -> None:
    assert normalize_company_name("Grab Holdings Private Limited", "SG") == CompanyName(
        "grab holdings", "PTE_LTD"
    )
    assert normalize_company_name("Grab Holdings Private Limited", "IN") == CompanyName(
        "grab holdings", "PVT_LTD"
    )


def test_two_legal_forms_of_one_brand_stay_distinguishable() -> None:
    inc = normalize_company_name("Acme Inc.")
    gmbh = normalize_company_name("ACME GmbH")
    assert inc is not None and gmbh is not None
    assert inc.name == gmbh.name == "acme"
    assert inc.legal_form != gmbh.legal_form


def test_tokens_property() -> None:
    name = normalize_company_name("Acme Intl Holdings B.V.")
    assert name is not None
    assert name.tokens == ("acme", "international", "holdings")


@pytest.mark.parametrize("value", [None, "", "   ", ".,-", "トヨタ自動車株式会社"])
def test_company_name_without_latin_content_is_none(value: str | None) -> None:
    # Non-Latin names would all collapse to an empty key and falsely match each other.
    assert normalize_company_name(value) is None


@given(latin_text, st.sampled_from([None, "US", "JP", "DE", "SG", "ID"]))
def test_company_name_is_idempotent_and_ascii(value: str, country: str | None) -> None:
    first = normalize_company_name(value, country)
    assume(first is not None)
    assert NAME_KEY.fullmatch(first.name)
    again = normalize_company_name(first.name, country)
    assert again is not None and again.name == first.name


@given(latin_text)
def test_company_name_ignores_case_and_surrounding_whitespace(value: str) -> None:
    expected = normalize_company_name(value)
    assert normalize_company_name(value.upper()) == expected
    assert normalize_company_name(value.lower()) == expected
    assert normalize_company_name(f" \t{value}\n ") == expected


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,&-", max_size=30).flatmap(
        lambda plain: st.tuples(st.just(plain), accented(plain))
    )
)
def test_company_name_ignores_accents(pair: tuple[str, str]) -> None:
    plain, with_accents = pair
    assert normalize_company_name(with_accents) == normalize_company_name(plain)


# Brand words built from syllables that can never spell a legal form or an abbreviation.
brand = st.lists(
    st.lists(
        st.sampled_from(["zor", "vex", "qui", "lam", "bri", "tok", "nef", "dru"]),
        min_size=1,
        max_size=3,
    ).map("".join),
    min_size=1,
    max_size=3,
).map(" ".join)


@given(brand, st.sampled_from(LEGAL_FORMS), st.sampled_from([" ", ", ", " , "]), st.booleans())
def test_legal_form_never_leaks_into_name(
    brand_name: str, form: tuple[str, str], separator: str, shout: bool
) -> None:
    spelling, code = form
    value = f"{brand_name.title()}{separator}{spelling}"
    result = normalize_company_name(value.upper() if shout else value)
    assert result == CompanyName(brand_name, code)


# ------------------------------------------------------------------------------ tax IDs

# (input, record country, canonical value, kind, country); each checked against stdnum below.
VALID_TAX_IDS = [
    ("DE136695976", None, "DE136695976", "vat", "DE"),
    ("136695976", "DE", "DE136695976", "vat", "DE"),
    ("DE 136 695 976", "Germany", "DE136695976", "vat", "DE"),
    ("FR 40 303 265 045", None, "FR40303265045", "vat", "FR"),
    ("GB980780684", None, "GB980780684", "vat", "GB"),
    ("980 7806 84", "GB", "GB980780684", "vat", "GB"),
    ("XI980780684", None, "XI980780684", "vat", "GB"),
    ("NL004495445B01", None, "NL004495445B01", "vat", "NL"),
    ("ESB58378431", None, "ESB58378431", "vat", "ES"),
    ("B-58378431", "ES", "ESB58378431", "vat", "ES"),
    ("ATU13585627", None, "ATU13585627", "vat", "AT"),
    ("U13585627", "AT", "ATU13585627", "vat", "AT"),
    ("BE 0411.905.847", None, "BE0411905847", "vat", "BE"),
    ("IT00743110157", None, "IT00743110157", "vat", "IT"),
    ("SE556188840401", None, "SE556188840401", "vat", "SE"),
    ("IE6433435F", None, "IE6433435F", "vat", "IE"),
    ("EL094259216", None, "EL094259216", "vat", "GR"),
    ("GR094259216", None, "EL094259216", "vat", "GR"),  # ISO code instead of the EL prefix
    ("094259216", "GR", "EL094259216", "vat", "GR"),
    ("CHE-116.281.710 MWST", None, "CHE116281710", "vat", "CH"),
    ("CHE-116.281.710 TVA", "CH", "CHE116281710", "vat", "CH"),
    ("CHE-116.281.710", "CH", "CHE116281710", "uid", "CH"),
    ("NO 995 525 828 MVA", None, "NO995525828MVA", "vat", "NO"),
    ("04-2103594", "US", "042103594", "ein", "US"),
    ("83 914 571 673", "AU", "83914571673", "abn", "AU"),
    ("27AAPFU0939F1ZV", "IN", "27AAPFU0939F1ZV", "gst", "IN"),
    ("16.727.230/0001-97", "BR", "16727230000197", "cnpj", "BR"),
    ("5-8356-7825-6246", "JP", "5835678256246", "corporate_number", "JP"),
    ("12302 6635", "CA", "123026635", "bn", "CA"),
    ("732 829 320", "FR", "732829320", "siren", "FR"),
]


@pytest.mark.parametrize(("raw", "country", "value", "kind", "cc"), VALID_TAX_IDS)
def test_valid_tax_ids(raw: str, country: str | None, value: str, kind: str, cc: str) -> None:
    assert normalize_tax_id(raw, country) == TaxId(value, kind, cc, True)


# stdnum validators for the non-VAT kinds above, used as an independent oracle.
STDNUM_BY_KIND = {
    "ein": us_ein,
    "abn": au_abn,
    "gst": in_gstin,
    "cnpj": br_cnpj,
    "corporate_number": jp_cn,
    "bn": ca_bn,
    "siren": fr_siren,
    "uid": ch_uid,
}


def test_tax_id_examples_are_really_valid_according_to_stdnum() -> None:
    # Guards the table above: a typo there must not turn these tests into fiction.
    for raw, _country, value, kind, _cc in VALID_TAX_IDS:
        if kind == "vat":
            assert vatin.is_valid(value + "MWST" if value.startswith("CHE") else value), raw
        else:
            assert STDNUM_BY_KIND[kind].is_valid(value), raw


def test_prefix_letters_that_belong_to_the_number() -> None:
    # An Indian PAN may begin with "IN"; it must not be cut off as a country prefix.
    assert normalize_tax_id("INAPC1234K", "IN") == TaxId("INAPC1234K", "pan", "IN", True)
    assert normalize_tax_id("INAPC1234K") == TaxId("INAPC1234K", "pan", "IN", True)


def test_foreign_vat_prefix_outranks_record_country() -> None:
    assert normalize_tax_id("FR40303265045", "DE") == TaxId("FR40303265045", "vat", "FR", True)
    assert normalize_tax_id("FR40303265040", "DE") == TaxId("FR40303265040", "vat", "FR", False)


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("DE136695975", None, TaxId("DE136695975", "vat", "DE", False)),
        ("136-695-975", "DE", TaxId("DE136695975", "vat", "DE", False)),
        ("07-2103594", "US", TaxId("072103594", "ein", "US", False)),  # unassigned EIN prefix
        ("GB980780685", "GB", TaxId("GB980780685", "vat", "GB", False)),
    ],
)
def test_checksum_failures_are_reported_not_dropped(
    raw: str, country: str | None, expected: TaxId
) -> None:
    assert normalize_tax_id(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country"), [("ACME", "DE"), ("not a number", None), ("12345", None)]
)
def test_garbage_tax_id_is_invalid(raw: str, country: str | None) -> None:
    result = normalize_tax_id(raw, country)
    assert result is not None and not result.valid


@pytest.mark.parametrize("raw", [None, "", "   ", " - / . "])
def test_blank_tax_id_is_none(raw: str | None) -> None:
    assert normalize_tax_id(raw, "DE") is None


@settings(deadline=None)  # first use of a country imports its stdnum module
@given(
    st.sampled_from(VALID_TAX_IDS),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=30), st.sampled_from(" .-/")), max_size=6
    ),
    st.booleans(),
)
def test_tax_id_ignores_separators_and_case(
    example: tuple[str, str | None, str, str, str], inserts: list[tuple[int, str]], lower: bool
) -> None:
    raw, country, value, kind, cc = example
    mangled = raw
    for position, separator in inserts:
        position %= len(mangled) + 1
        mangled = mangled[:position] + separator + mangled[position:]
    assert normalize_tax_id(mangled.lower() if lower else mangled, country) == TaxId(
        value, kind, cc, True
    )


# ------------------------------------------------------------------ registration numbers


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("HRB 12345 B", "DE", "HRB12345B"),
        ("1234567", "GB", "01234567"),  # leading zero lost in a spreadsheet
        ("SC 12345", "GB", "SC012345"),
        ("SC123456", "GB", "SC123456"),
        ("732 829 320", "FR", "732829320"),
        ("116.281.710", "CH", "CHE116281710"),
        ("FN 122119m", "AT", "122119M"),
        ("kvk 3412-3456", "NL", "KVK34123456"),
        ("", "GB", None),
        (" -/ ", None, None),
    ],
)
def test_registration_numbers(raw: str, country: str | None, expected: str | None) -> None:
    assert normalize_registration_number(raw, country) == expected


# --------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("(617) 253-1000", "US", "+16172531000"),
        ("+1 617-253-1000 ext. 5", None, "+16172531000"),
        ("1-800-FLOWERS", "US", "+18003569377"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("030 1234567", "DE", "+49301234567"),
        ("030 1234567", "Deutschland", "+49301234567"),
        ("0049 30 1234567", None, "+49301234567"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("+33 1 42 68 53 00", "US", "+33142685300"),
        (
            "06 6982 1234",
            "IT",
            "+390669821234",
        ),  # Italian numbers keep their leading zero  # explicit country code beats the region
    ],
)
def test_phone_to_e164(raw: str, country: str | None, expected: str) -> None:
    assert normalize_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        (None, "US"),
        ("", "US"),
        ("call me", "US"),
        ("12", "DE"),
        ("617-253-1000", None),
        ("253-1000", "US"),
    ],  # no area code: cannot be placed in E.164
)
def test_unusable_phone_is_none(raw: str | None, country: str | None) -> None:
    assert normalize_phone(raw, country) is None


@given(
    st.sampled_from(["", "0", "+", "00", "(0) "]),
    st.text(alphabet="0123456789", min_size=6, max_size=13),
    st.sampled_from(["", " ", "-", "."]),
    st.sampled_from(["US", "GB", "DE", "FR", "NL", "CH", "JP", "AU", "IN", "BR"]),
)
def test_phone_e164_is_a_fixed_point(
    prefix: str, digits: str, separator: str, country: str
) -> None:
    raw = prefix + separator.join([digits[:3], digits[3:]])
    result = normalize_phone(raw, country)
    assume(result is not None)
    assert re.fullmatch(r"\+[1-9]\d{3,14}", result)
    assert normalize_phone(result) == result
    assert normalize_phone(result, "JP") == result


@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR", "NL", "CH", "AU", "JP", "IN", "BR"])
def test_national_format_of_real_numbers_is_accepted(region: str) -> None:
    number = phonenumbers.example_number(region)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone(national, region) == e164


# -------------------------------------------------------------------------------- domains


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.co.uk/about", "acme.co.uk"),
        ("acme.com", "acme.com"),
        ("WWW.ACME.COM", "acme.com"),
        ("http://user:pw@shop.acme.com:8443/p?q=1", "acme.com"),
        ("jane@sales.acme.de", "acme.de"),
        ("Jane Doe <jane@acme.com>", "acme.com"),
        ("mailto:jane@acme.com", "acme.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("jane@gmail.com", "gmail.com"),  # free mail is still a domain
        ("localhost", None),
        ("192.168.1.1", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_domain(raw: str | None, expected: str | None) -> None:
    assert normalize_domain(raw) == expected


def test_normalize_domain_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert normalize_domain("https://portal.example-firm.com.au/x") == "example-firm.com.au"


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "live.com",
        "yahoo.com",
        "yahoo.co.jp",
        "mail.yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "t-online.de",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "protonmail.com",
        "proton.me",
        "zoho.com",
        "GMAIL.COM",
    ],
)
def test_free_mail_domains(domain: str) -> None:
    assert is_free_mail_domain(domain)
    assert evidence_domain(f"someone@{domain}") is None


@pytest.mark.parametrize(
    "domain", ["acme.com", "orange.com", "web.com", "mail.acme.com", "yahoo-partners.com"]
)
def test_company_domains_are_evidence(domain: str) -> None:
    assert not is_free_mail_domain(domain)
    assert evidence_domain(f"https://{domain}/contact") == normalize_domain(domain)


def test_social_profile_urls_are_not_evidence() -> None:
    # A LinkedIn page in the website field would otherwise "match" every such record.
    assert normalize_domain("https://www.linkedin.com/company/acme") == "linkedin.com"
    assert evidence_domain("https://www.linkedin.com/company/acme") is None


# --------------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane@Acme.com", "jane@acme.com"),
        ("  jane.doe@acme.co.uk ", "jane.doe@acme.co.uk"),
        ("Jane Doe <Jane@Acme.com>", "jane@acme.com"),
        ("mailto:Jane@acme.com", "jane@acme.com"),
        ("jane", None),
        ("jane@acme", None),
        ("a@b@c.com", None),
        ("jane doe@acme.com", None),
        ("@acme.com", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert normalize_email(raw) == expected


# --------------------------------------------------------------------------- postal codes


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("SW1A 1AA", "GB", "SW1A1AA"),
        ("sw1a 1aa", None, "SW1A1AA"),
        ("02139-4307", "US", "02139"),
        ("02139 4307", "US", "02139"),
        ("02139-4307", None, "02139"),
        ("2139", "US", "02139"),  # New England ZIP with its zero eaten by a spreadsheet
        ("1012 ab", "NL", "1012AB"),
        ("K1A 0B1", "CA", "K1A0B1"),
        ("D-80331", "DE", "80331"),
        ("CH-8001", None, "8001"),
        ("01310-100", "BR", "01310100"),  # Brazilian CEP is not a ZIP+4
        ("", None, None),
        (None, "US", None),
        (" - ", None, None),
    ],
)
def test_normalize_postal_code(raw: str | None, country: str | None, expected: str | None) -> None:
    assert normalize_postal_code(raw, country) == expected


@given(latin_text, st.sampled_from([None, "US", "GB", "NL", "DE", "CA", "BR"]))
def test_postal_code_is_idempotent(raw: str, country: str | None) -> None:
    once = normalize_postal_code(raw, country)
    assume(once is not None)
    assert re.fullmatch(r"[A-Z0-9]+", once)
    assert normalize_postal_code(once, country) == once


# --------------------------------------------------------------------------------- cities


@pytest.mark.parametrize(
    ("spellings", "country", "city"),
    [
        (["Köln", "Koeln", "Cologne", "KÖLN"], "DE", "koln"),
        (["München", "Munich", "Muenchen"], "DE", "munich"),
        (["Den Haag", "The Hague", "'s-Gravenhage"], "NL", "the hague"),
        (["Bombay", "Mumbai"], "IN", "mumbai"),
        (["Torino", "Turin"], "IT", "turin"),
        (["Genève", "Geneva", "Genf"], "CH", "geneva"),
        (["Frankfurt", "Frankfurt am Main"], "DE", "frankfurt am main"),
        # A district written after its city is the city.
        (["Berlin-Mitte", "Berlin", "BERLIN MITTE"], "DE", "berlin"),
        (["Paris 8e", "Paris"], "FR", "paris"),
        # Without a country: the largest city of that spelling.
        (["Cologne", "Köln"], None, "koln"),
    ],
)
def test_a_city_has_one_spelling_whatever_the_language(spellings, country, city) -> None:
    assert {normalize_city(spelling, country) for spelling in spellings} == {city}


def test_unknown_towns_are_only_folded() -> None:
    assert normalize_city("Klein-Wümmeldorf", "DE") == "klein wummeldorf"
    assert normalize_city(None, "DE") == ""
    # A spelling of a city elsewhere does not rename a town of the record's own country.
    assert normalize_city("London", "CA") == "london"
    assert normalize_city("Bombay", "GB") == "bombay"
    # A city's own name is that city, not a larger one whose name begins alike.
    assert normalize_city("Frankfurt (Oder)", "DE") == "frankfurt oder"


@given(latin_text, st.sampled_from([None, "DE", "NL", "IN", "US", "FR", "JP"]))
def test_normalize_city_is_idempotent(raw: str, country: str | None) -> None:
    once = normalize_city(raw, country)
    assert normalize_city(once, country) == once
    assert once == "" or NAME_KEY.fullmatch(once)


# -------------------------------------------------------------------------------- streets


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123 Main St.", "123 main street"),
        ("1 St Johns Rd", "1 saint johns road"),
        ("Rue St. Honoré 12", "rue saint honore 12"),
        ("100 E Main St, Ste 200", "100 east main street suite 200"),
        ("Rue Ste Catherine", "rue sainte catherine"),
        ("Dr Martin Luther King Jr Dr", "doctor martin luther king jr drive"),
        ("5th Ave., Fl. 3", "5th avenue floor 3"),
        ("742 Evergreen Blvd", "742 evergreen boulevard"),
        ("Baker Ln", "baker lane"),
        ("Hauptstr. 5", "hauptstrasse 5"),
        ("Hauptstraße 5", "hauptstrasse 5"),
        ("Berliner Str. 12a", "berliner strasse 12a"),
        ("12 Bd Haussmann", "12 boulevard haussmann"),
        ("Av. des Champs-Élysées 1", "avenue des champs elysees 1"),
        ("C/ Mayor, 5", "calle mayor 5"),
        ("Avda. de la Constitución 3", "avenida de la constitucion 3"),
        ("c/o Acme, 5 Main St", "c o acme 5 main street"),  # "care of", not a calle
        ("", None),
        (None, None),
    ],
)
def test_normalize_street(raw: str | None, expected: str | None) -> None:
    assert normalize_street(raw) == expected


@given(latin_text)
def test_street_is_idempotent(raw: str) -> None:
    once = normalize_street(raw)
    assume(once is not None)
    assert NAME_KEY.fullmatch(once)
    assert normalize_street(once) == once


def test_indian_p_ltd_is_private_limited() -> None:
    short = normalize_company_name("Costa Systems Services P. Ltd.", "IN")
    long = normalize_company_name("Costa Systems Services Pvt. Ltd.", "IN")
    assert short == long
    assert short is not None and short.legal_form == "PVT_LTD"
