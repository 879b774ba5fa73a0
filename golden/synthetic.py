"""Seeded synthetic CRM / PSA / ERP master data with ground truth.

Used by the demo loader (a few hundred companies) and by matcher benchmarks
(10^5..10^6 records), so customers are streamed and every random draw comes
from a single ``random.Random``: one seed always yields the same records.

Ground truth: ``SyntheticRecord.entity_key`` names the real-world thing; two
records are true duplicates iff their keys are equal. ``family`` marks hard
negatives (distinct entities built to look alike: sister companies, brand
spin-offs, generic names, same name in another legal form) so evaluation can
report on them separately. Outside families, every company has a unique name
base and website domain (drawn without replacement from combinatorial word
spaces, enough for ~1.5M companies), so accidental look-alikes cannot blur
the ground truth. Tax IDs carry valid check digits and are unique per country.
Pure Python; python-stdnum only for check-digit algorithms.
"""

from __future__ import annotations

import csv
import json
import random
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import combinations
from os import PathLike
from typing import NamedTuple, TypeVar

from stdnum import luhn
from stdnum.au import abn
from stdnum.br import cnpj
from stdnum.es import cif
from stdnum.iso7064 import mod_11_10
from stdnum.jp import cn

_T = TypeVar("_T")

# ---------------------------------------------------------------------------
# Canonical field lists (write_csv headers; every record carries all of them)
# ---------------------------------------------------------------------------
CUSTOMER_FIELDS = (
    "source_id",
    "name",
    "tax_id",
    "website",
    "email",
    "phone",
    "address_line1",
    "city",
    "region",
    "postal_code",
    "country",
    "parent_source_id",
    "industry",
    "currency",
    "updated_at",
)
LEGAL_ENTITY_FIELDS = (
    "source_id",
    "name",
    "registration_number",
    "tax_id",
    "country",
    "base_currency",
    "erp_subsidiary_code",
    "address_line1",
    "city",
    "postal_code",
    "updated_at",
)
PROJECT_FIELDS = (
    "source_id",
    "code",
    "name",
    "customer_source_id",
    "billing_legal_entity_source_id",
    "billing_method",
    "currency",
    "start_date",
    "end_date",
    "status",
    "cost_center",
    "department",
    "project_manager",
    "crm_opportunity_ref",
    "updated_at",
)
SERVICE_CODE_FIELDS = (
    "source_id",
    "code",
    "name",
    "category",
    "unit",
    "tax_code",
    "revenue_account",
    "updated_at",
)
SYSTEMS = ("crm", "psa", "erp")
FAMILY_KINDS = ("group", "brand", "generic", "legal_form")

# ---------------------------------------------------------------------------
# Word lists. Compact "a|b|c" strings keep ~300 entries readable on few lines.
# ---------------------------------------------------------------------------


class _Country(NamedTuple):
    code: str
    names: tuple[str, ...]  # English first, then native / colloquial spellings
    currency: str
    dial: str
    trunk: str  # national trunk prefix, dropped in international format
    tld: str
    street: str  # key into _STREETS
    forms: tuple[tuple[str, ...], ...]  # legal forms, each with its spellings (canonical first)
    cities: tuple[
        tuple[str, str, str, str, str], ...
    ]  # native, English, region, postal template, area code


# code, names, "currency dial trunk(- = none) tld street-style", legal forms ("; " between forms, "|" between
# spellings), cities ("; " between, fields native[=English]|region|postal template (# digit, @ letter)|area code).
_COUNTRY_SPECS = (
    (
        "US",
        "United States|USA|U.S.|United States of America",
        "USD 1 - .com en",
        "Inc.|Inc|Incorporated|INC; LLC|L.L.C.|Llc; Corp.|Corporation|Corp",
        "New York|NY|100##|212; Chicago|IL|606##|312; Denver|CO|802##|303; San Francisco|CA|941##|415; "
        "Austin|TX|787##|512; Boston|MA|021##|617; Seattle|WA|981##|206; Atlanta|GA|303##|404",
    ),
    (
        "GB",
        "United Kingdom|UK|Great Britain|England",
        "GBP 44 0 .co.uk en",
        "Ltd|Limited|Ltd.|LTD; PLC|plc|Public Limited Company; LLP|L.L.P.",
        "London|ENG|EC# #@@|20; Manchester|ENG|M# #@@|161; Birmingham|ENG|B# #@@|121; Edinburgh|SCT|EH# #@@|131; "
        "Leeds|ENG|LS# #@@|113",
    ),
    (
        "DE",
        "Germany|Deutschland|Bundesrepublik Deutschland",
        "EUR 49 0 .de de",
        "GmbH|G.m.b.H.|Gmbh|GMBH; AG|A.G.|Aktiengesellschaft; GmbH & Co. KG|GmbH & Co KG|GmbH u. Co. KG",
        "Berlin|BE|10###|30; München=Munich|BY|80###|89; Hamburg|HH|20###|40; Frankfurt am Main=Frankfurt|HE|60###|69; "
        "Köln=Cologne|NW|50###|221; Stuttgart|BW|70###|711; Düsseldorf=Duesseldorf|NW|40###|211",
    ),
    (
        "FR",
        "France|République française",
        "EUR 33 0 .fr fr",
        "SAS|S.A.S.|Sas; SA|S.A.; SARL|S.A.R.L.|Sàrl",
        "Paris|IDF|750##|1; Lyon=Lyons|ARA|690##|4; Marseille=Marseilles|PAC|130##|4; Toulouse|OCC|310##|5; "
        "Lille|HDF|590##|3; Bordeaux|NAQ|330##|5",
    ),
    (
        "NL",
        "Netherlands|Nederland|The Netherlands|Holland",
        "EUR 31 0 .nl nl",
        "B.V.|BV|Bv; N.V.|NV",
        "Amsterdam|NH|10## @@|20; Rotterdam|ZH|30## @@|10; Utrecht|UT|35## @@|30; Den Haag=The Hague|ZH|25## @@|70; "
        "Eindhoven|NB|56## @@|40",
    ),
    (
        "ES",
        "Spain|España|Espana",
        "EUR 34 - .es es",
        "S.L.|SL|Sociedad Limitada; S.A.|SA|Sociedad Anónima",
        "Madrid|MD|280##|91; Barcelona|CT|080##|93; Valencia|VC|460##|96; Sevilla=Seville|AN|410##|95; "
        "Bilbao|PV|480##|94",
    ),
    (
        "IT",
        "Italy|Italia",
        "EUR 39 - .it it",
        "S.r.l.|SRL|Srl; S.p.A.|SpA|SPA",  # Italy keeps the 0 abroad
        "Milano=Milan|MI|201##|02; Roma=Rome|RM|001##|06; Torino=Turin|TO|101##|011; Bologna|BO|401##|051; "
        "Firenze=Florence|FI|501##|055",
    ),
    (
        "CH",
        "Switzerland|Schweiz|Suisse|Svizzera",
        "CHF 41 0 .ch ch",
        "AG|A.G.|SA; GmbH|G.m.b.H.|Sàrl",
        "Zürich=Zurich|ZH|80##|44; Genève=Geneva|GE|12##|22; Basel=Basle|BS|40##|61; Bern=Berne|BE|30##|31; "
        "Lausanne|VD|10##|21",
    ),
    (
        "SE",
        "Sweden|Sverige",
        "SEK 46 0 .se se",
        "AB|Aktiebolag|A.B.|AB (publ)",
        "Stockholm|AB|1## ##|8; Göteborg=Gothenburg|O|4## ##|31; Malmö=Malmo|M|2## ##|40; Uppsala|C|75# ##|18",
    ),
    (
        "AU",
        "Australia|AUS|Commonwealth of Australia",
        "AUD 61 0 .com.au en",
        "Pty Ltd|Pty. Ltd.|Proprietary Limited|PTY LTD; Ltd|Limited",
        "Sydney|NSW|2###|2; Melbourne|VIC|3###|3; Brisbane|QLD|4###|7; Perth|WA|6###|8",
    ),
    (
        "CA",
        "Canada|CAN",
        "CAD 1 - .ca en",
        "Inc.|Inc|Incorporated; Ltd.|Limited|Ltée",
        "Toronto|ON|M#@ #@#|416; Vancouver|BC|V#@ #@#|604; Montréal=Montreal|QC|H#@ #@#|514; Calgary|AB|T#@ #@#|403",
    ),
    (
        "IN",
        "India|Bharat|IND",
        "INR 91 0 .in en",
        "Pvt. Ltd.|Private Limited|Pvt Ltd|P. Ltd.; Ltd.|Limited",
        "Mumbai=Bombay|MH|4000##|22; Bengaluru=Bangalore|KA|5600##|80; New Delhi=Delhi|DL|1100##|11; "
        "Pune=Poona|MH|4110##|20; Hyderabad|TG|5000##|40",
    ),
    (
        "JP",
        "Japan|Nippon|JPN",
        "JPY 81 0 .co.jp jp",
        "K.K.|Kabushiki Kaisha|KK|Co., Ltd.; G.K.|Godo Kaisha|GK",
        "Tokyo|13|1##-####|3; Osaka|27|5##-####|6; Yokohama|14|2##-####|45; Nagoya|23|4##-####|52",
    ),
    (
        "BR",
        "Brazil|Brasil",
        "BRL 55 0 .com.br br",
        "Ltda.|Ltda|Limitada|LTDA; S.A.|SA|S/A",
        "São Paulo=Sao Paulo|SP|0####-###|11; Rio de Janeiro=Rio|RJ|2####-###|21; "
        "Belo Horizonte|MG|3####-###|31; Curitiba|PR|8####-###|41",
    ),
)


def _parse_country(code: str, names: str, misc: str, forms: str, cities: str) -> _Country:
    cur, dial, trunk, tld, street = misc.split()
    parsed = []
    for city in cities.split("; "):
        name, region, postal, area = city.split("|")
        native, _, english = name.partition("=")
        parsed.append((native, english or native, region, postal, area))
    return _Country(
        code,
        tuple(names.split("|")),
        cur,
        dial,
        trunk.strip("-"),
        tld,
        street,
        tuple(tuple(f.split("|")) for f in forms.split("; ")),
        tuple(parsed),
    )


_COUNTRIES = {spec[0]: _parse_country(*spec) for spec in _COUNTRY_SPECS}
# Customer mix of a Europe/US-centred firm, expanded so a draw is one rng.choice.
_COUNTRY_BAG = tuple(
    c
    for c, w in zip(_COUNTRIES, (22, 14, 12, 8, 6, 5, 5, 4, 4, 5, 5, 4, 3, 3), strict=True)
    for _ in range(w)
)
_COUNTRY_LOOKUP = {n.lower(): c.code for c in _COUNTRIES.values() for n in (c.code, *c.names)}
_IN_STATES = {"MH": "27", "KA": "29", "DL": "07", "TG": "36"}  # GSTIN state prefixes
_EIN_PREFIXES = "12 20 26 27 45 46 47 81 82 83 84 86 88 91 94 98".split()  # IRS-assigned campuses

# Street style -> (names, "full|abbreviated" street types); address() decides the layout per style.
_STREETS = {
    k: (names.split("|"), [tuple(t.split("|")) for t in types.split()])
    for k, names, types in (
        (
            "en",
            "Main|Oak|Maple|Market|Church|High|King|Queen|Park|Mill|Station|Bridge|Victoria|Elm|Cedar|Lake|Hill|"
            "Washington|Lincoln|Wacker",
            "Street|St. Avenue|Ave. Road|Rd. Boulevard|Blvd. Lane|Ln. Drive|Dr.",
        ),
        (
            "de",
            "Haupt|Bahnhof|Schiller|Goethe|Linden|Friedrich|Kaiser|Garten|Markt|Rosen|Berliner|Königs",
            "straße|str. straße|strasse allee|allee weg|weg",
        ),
        ("ch", "Bahnhof|Limmat|Seefeld|Rennweg|Löwen|Kirch|Rosen", "strasse|str. gasse|g. weg|weg"),
        (
            "nl",
            "Heren|Keizers|Prinsen|Kerk|Molen|Stations|Markt|Rozen",
            "gracht|gr. straat|str. weg|wg. laan|ln.",
        ),
        ("se", "Kungs|Drottning|Stor|Svea|Hamn|Kyrko|Strand|Birger Jarls", "gatan|g. vägen|v."),
        (
            "fr",
            "de la Paix|Victor Hugo|du Faubourg Saint-Honoré|de Rivoli|Jean Jaurès|de la République|Pasteur|"
            "des Champs-Élysées|Gambetta|Voltaire",
            "rue|r. avenue|av. boulevard|bd place|pl.",
        ),
        (
            "es",
            "Mayor|de Alcalá|Gran Vía|de la Castellana|de Serrano|Diagonal|del Prado",
            "Calle|C/ Avenida|Avda. Paseo|Pº",
        ),
        (
            "it",
            "Roma|Garibaldi|Dante|Verdi|Mazzini|della Repubblica|Vittorio Emanuele II",
            "Via|V. Viale|V.le Piazza|P.za Corso|C.so",
        ),
        (
            "br",
            "Paulista|Brigadeiro Faria Lima|das Nações Unidas|Rio Branco|Augusta|Oscar Freire",
            "Avenida|Av. Rua|R. Alameda|Al.",
        ),
        ("jp", "Marunouchi|Shibuya|Roppongi|Umeda|Nishi-Shinjuku|Akasaka", "|"),
    )
}

_SURNAMES = (
    "Harper|Cole|Whitfield|Bennett|Morgan|Lang|Fischer|Müller|Schäfer|Köhler|Weiß|Lefèvre|Gérard|Dubois|"
    "Moreau|Janssen|de Vries|Bakker|García|Núñez|Muñoz|Rossi|Bianchi|Ferrari|Åström|Lindqvist|Sjögren|"
    "Keller|Brunner|Tanaka|Sato|Patel|Mehta|Iyer|Souza|Gonçalves|Almeida|Hughes|Reid|Walsh|Novak|Weber|"
    "Hoffmann|Wagner|Becker|Fontaine|Mercier|Visser|Romano|Conti|Berg|Nyström|O'Brien|MacLeod|Carter|"
    "Ellison|Prescott|Sterling|Blackwood|Ashford|Thornton|Kowalski|Abbott|Barrett|Chambers|Dalton|Emerson|"
    "Fletcher|Griffin|Hawkins|Ingram|Jarvis|Kendall|Lawson|Mason|Nash|Osborne|Parker|Quinn|Russell|Shaw|"
    "Turner|Vaughan|Warren|Young|Zimmermann|Schulz|Richter|Laurent|Girard|Ruiz|Ortega|Marino|Greco|"
    "Holm|Dahl|Nakamura|Kapoor|Pereira|Costa|Lindgren"
).split("|")
# Coined brands: head + middle + tail syllables ("Nor" + "a" + "tex"). Single companies use vowel middles and
# families use the others, so a family brand never equals an unrelated company's brand.
_BRAND_HEADS = (
    "Nor Vel Acu Zen Tri Omni Quan Lum Syn Vert Ax Cor Nex Stra Ver Ori Kin Alt Bri Cal Dex Evo Flux Gal "
    "Hel Ion Kal Lyr Mer Nov Opt Pax Rho Sol Tera Vox Wex Yor Zeph Aur Bel Cyr Dor Eld Fen Gor Hal Jun "
    "Kor Lat Mon Nim Pol Rav Sar Tor Ulm Var Wil Zor"
).split()
_BRAND_TAILS = (
    "tex ora via nix com ium tis lan gen ware sys tron lytics dyne vance path core wave point nova sphere "
    "bridge stone field works mark line ridge gate scale quest sense cast form lux tek mind flow grid hub"
).split()
_SINGLE_MIDS, _FAMILY_MIDS = "a e i o u y".split(), ["", "ar", "en", "il", "is", "um", "an"]
_N_SYLLABLES = len(_BRAND_HEADS) * len(_BRAND_TAILS)
_ADJECTIVES = "Blue Red Silver Golden North West East Iron Stone Green Grand Bright Clear Deep High Old Royal Swift True Wild".split()
_NOUNS = "River Oak Harbor Ridge Peak Bay Creek Valley Field Lake Gate Point Rock Bridge Forest Hill Star Wave Crest Haven".split()
_INDUSTRY_WORDS = (
    "Technology Software Logistics Engineering Consulting Energy Pharma Capital Media Foods Retail "
    "Analytics Systems Networks Healthcare Manufacturing Construction Insurance Telecom Automotive "
    "Biotech Solutions Robotics Materials Marine Aerospace Security Digital"
).split()
# Local-language name parts (with the accents CRM users drop); disjoint across countries even unaccented.
_NATIVE_WORDS = {
    k: v.split()
    for k, v in (
        ("DE", "Maschinenbau Logistik Technik Versicherungen Gerätebau"),
        ("CH", "Treuhand Uhren Präzision Feinmechanik"),
        ("FR", "Électronique Énergies Ingénierie Générale Études"),
        ("ES", "Construcciones Ingeniería Energía Tecnología"),
        ("IT", "Costruzioni Ingegneria Impianti Meccanica"),
        ("NL", "Bouw Techniek Logistiek Handelsmaatschappij"),
        ("SE", "Bygg Teknik Fastigheter Skogsindustri"),
        ("BR", "Construções Engenharia Mineração Serviços"),
    )
}
_TAILS = "International|Group|Services|Holdings|Partners|Industries|Worldwide|Associates|Technologies|& Co".split(
    "|"
)
_TAIL_TOKENS = frozenset(t for tail in _TAILS for t in tail.split())
# Generic names ("Premier Global Solutions") for look-alike families: 6,000 combinations, one per family.
_GENERIC_ADJ = (
    "Global Premier United Advanced Integrated National Allied Prime Standard Universal Metro Apex "
    "Pioneer Superior Elite Dynamic Strategic Precision Total First"
).split()
_GENERIC_NOUNS = (
    "Solutions Consulting Services Systems Technologies Supply Partners Industries Trading Builders "
    "Logistics Group Resources Management Enterprises"
).split()
# Sales reps and PSA admins abbreviate; ERP keeps the legal spelling.
_ABBREV = {
    k: tuple(v.split("|"))
    for k, v in (
        ("International", "Intl|Int'l|Intl."),
        ("Technology", "Tech"),
        ("Technologies", "Tech|Techs"),
        ("Services", "Svcs|Svc"),
        ("Group", "Grp"),
        ("&", "and|+"),
        ("and", "&"),
        ("Manufacturing", "Mfg"),
        ("Engineering", "Eng|Engg"),
        ("Associates", "Assoc"),
        ("Holdings", "Hldgs"),
        ("Systems", "Sys"),
        ("Solutions", "Sol"),
        ("Company", "Co"),
    )
}
_INDUSTRIES = (
    "Technology|Financial Services|Healthcare|Manufacturing|Retail|Energy|Telecommunications|Media|"
    "Professional Services|Transportation|Public Sector|Education|Real Estate|Pharmaceuticals|"
    "Consumer Goods|Insurance|Automotive"
).split("|")
_FIRST_NAMES = (
    "James Mary Oliver Emma Lukas Sophie Lucas Chloé Daan Julia Alejandro Lucía Marco Giulia Erik Astrid "
    "Liam Arjun Priya Haruto"
).split()
# Which systems a company lives in: most are sold (CRM), delivered (PSA) and billed (ERP); CRM-only = prospects.
_PRESENCE_BAG = tuple(
    p
    for p, w in (
        (("crm", "psa", "erp"), 45),
        (("crm", "erp"), 15),
        (("crm", "psa"), 10),
        (("psa", "erp"), 10),
        (("crm",), 14),
        (("psa",), 3),
        (("erp",), 3),
    )
    for _ in range(w)
)
_FAMILY_RATE = 0.047  # family starts per entity slot; mean family size ~2.9 -> ~12% of entities
_CRM_DUP_RATE = 0.0375  # of CRM-present companies (~80%) -> ~3% of companies
_SHUFFLE = 4096  # bounded shuffle so true duplicates are not adjacent in the stream
_TS0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
_TS_MINUTES = 820 * 24 * 60  # updated_at spread up to ~2026-03-31
_TODAY = date(2026, 3, 15)  # reference date for project status
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ALNUM36 = _B62[:36]
_UPPER = _B62[10:36]
_PRIME = 2_654_435_761  # prime multiplier: k -> (k*P + off) % M is a bijection, so IDs never repeat
_TAX_SPACE = {
    "DE": 90_000_000,
    "GB": 9_000_000,
    "FR": 70_000_000,
    "NL": 81_000_000,
    "ES": 10_000_000,
    "IT": 9_999_999,
    "CH": 81_000_000,
    "SE": 10_000_000,
    "AU": 900_000_000,
    "CA": 90_000_000,
    "IN": 26**4 * 9_999,
    "JP": 900_000_000_000,
    "BR": 90_000_000,
    "US": len(_EIN_PREFIXES) * 10_000_000,
}
_VAT_PREFIXED = frozenset({"DE", "GB", "FR", "NL", "ES", "IT", "SE"})

# str.translate tables are ~10x faster than unicodedata per call, which matters at 10^6 rows.
_ACCENTED = "ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿŌōº"
_DEACCENT = {ord(c): unicodedata.normalize("NFKD", c)[0] for c in _ACCENTED}
_DEACCENT.update({ord("ß"): "ss", ord("Ø"): "O", ord("ø"): "o", ord("Æ"): "AE", ord("æ"): "ae"})
_UMLAUT = {
    **_DEACCENT,
    **{ord(k): v for k, v in zip("äöüÄÖÜ", ("ae", "oe", "ue", "Ae", "Oe", "Ue"), strict=True)},
}
_NO_PUNCT = str.maketrans("", "", ".,'")


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    entity: str  # customer | legal_entity | project | service_code
    system: str  # crm | psa | erp
    data: dict[str, str]
    entity_key: str  # ground truth: equal keys <=> same real-world entity
    family: str | None = None  # hard-negative family ("group-00012"), None if not in one


# ---------------------------------------------------------------------------
# Shared primitives
# ---------------------------------------------------------------------------
def _pick(rng: random.Random, seq: Sequence[_T]) -> _T:
    # Same distribution as rng.choice at a third of the cost, which adds up at 10^6 records.
    return seq[int(rng.random() * len(seq))]


def _typo(s: str, rng: random.Random) -> str:
    """One transposition, deletion or substitution, as humans make them."""
    if len(s) < 4:
        return s
    i = 1 + int(rng.random() * (len(s) - 2))
    op = rng.random()
    if op < 0.34:
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if op < 0.67:
        return s[:i] + s[i + 1 :]
    return s[:i] + _B62[10 + int(rng.random() * 26) + 26 * s[i].islower()] + s[i + 1 :]


class _Factory:
    """IDs, addresses, phones and tax IDs drawn from one RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._seq: dict[str, int] = {}
        self._off = {c: rng.randrange(1 << 40) for c in (*_COUNTRIES, "sf")}

    def seq(self, name: str, start: int, max_gap: int = 1) -> int:
        # Increasing with small gaps (deleted rows), hence unique per name.
        n = (
            self._seq.get(name, start)
            + 1
            + (int(self.rng.random() * max_gap) if max_gap > 1 else 0)
        )
        self._seq[name] = n
        return n

    def unique(self, name: str, space: int) -> int:
        """The next of ``space`` values for ``name`` in scrambled order, each once; -1 when used up."""
        k = self.seq("u" + name, -1)
        if k >= space:
            return -1
        if name not in self._off:
            self._off[name] = self.rng.randrange(1 << 40)
        return (k * _PRIME + self._off[name]) % space

    def sf_id(self, prefix: str) -> str:
        # Salesforce layout: 3-char key prefix, pod, reserved 0, 9-char base62 counter,
        # then the 3-char case-safety suffix computed the way Salesforce does.
        v = (self.seq("sf" + prefix, 0) * _PRIME + self._off["sf"]) % 62**9
        digits = []
        for _ in range(9):
            v, m = divmod(v, 62)
            digits.append(_B62[m])
        s = prefix + "5g0" + "".join(digits)
        return s + "".join(
            _SF_SUFFIX[sum(1 << i for i, ch in enumerate(s[j : j + 5]) if "A" <= ch <= "Z")]
            for j in (0, 5, 10)
        )

    def fill(self, tpl: str) -> str:
        r = self.rng.random
        return "".join(
            _B62[int(r() * 10)] if ch == "#" else _UPPER[int(r() * 26)] if ch == "@" else ch
            for ch in tpl
        )

    def address(self, c: _Country, city: tuple[str, ...] | None = None) -> tuple:
        """(street as billed, street as typed, city tuple, canonical postal code)."""
        rng = self.rng
        city = city or _pick(rng, c.cities)
        names, types = _STREETS[c.street]
        name, (t, ta) = _pick(rng, names), _pick(rng, types)
        n = 1 + int(rng.random() * (400 if c.street == "en" else 120))
        st = c.street
        if st == "en":
            full, abbr = f"{n} {name} {t}", f"{n} {name} {ta}"
            if rng.random() < 0.25:
                suite = 100 * (1 + int(rng.random() * 40))
                full, abbr = f"{full}, Suite {suite}", f"{abbr} Ste {suite}"
        elif st in ("de", "ch", "nl", "se"):
            full, abbr = f"{name}{t} {n}", f"{name}{ta} {n}"
        elif st == "fr":
            full, abbr = f"{n} {t} {name}", f"{n}, {ta} {name}"
        elif st == "jp":
            code = f"{1 + n % 9}-{1 + n % 17}-{n}"
            full, abbr = f"{code} {name}", f"{name} {code}"
        else:
            full, abbr = f"{t} {name}, {n}", f"{ta} {name} {n}"
        return full, abbr, city, self.fill(city[3])

    def tax_id(self, cc: str, region: str, initial: str, form: int) -> str:
        """A check-digit-valid VAT / business number, unique per country for this factory."""
        k = self.seq("tax" + cc, 0)
        x = (k * _PRIME + self._off[cc]) % _TAX_SPACE[cc]
        if cc == "DE":
            b = str(10_000_000 + x)
            return "DE" + b + mod_11_10.calc_check_digit(b)
        if cc == "GB":
            b = str(1_000_000 + x)
            return f"GB{b}{-sum(w * int(d) for w, d in zip((8, 7, 6, 5, 4, 3, 2), b, strict=True)) % 97:02d}"
        if cc == "FR":
            b = str(30_000_000 + x)
            siren = b + luhn.calc_check_digit(b)
            return f"FR{int(siren + '12') % 97:02d}{siren}"
        if cc in ("NL", "CH"):
            # 7 free digits + the j-th of the (>=9) last digits whose check digit is not 10.
            p = str(1_000_000 + x // 9)
            if cc == "NL":
                s = sum(w * int(d) for w, d in zip((9, 8, 7, 6, 5, 4, 3), p, strict=True))
                ok = [(d, (s + 2 * d) % 11) for d in range(10) if (s + 2 * d) % 11 < 10]
                d, chk = ok[x % 9]
                return f"NL{p}{d}{chk}B01"
            s = sum(w * int(d) for w, d in zip((5, 4, 3, 2, 7, 6, 5), p, strict=True))
            ok = [(d, (11 - s - 4 * d) % 11) for d in range(10) if (11 - s - 4 * d) % 11 < 10]
            d, chk = ok[x % 9]
            u = f"{p}{d}{chk}"
            return f"CHE-{u[:3]}.{u[3:6]}.{u[6:]} MWST"
        if cc == "ES":
            b = f"{'A' if form == 1 else 'B'}{x:07d}"
            return "ES" + b + cif.calc_check_digits(b)[0]
        if cc == "IT":
            b = f"{1 + x:07d}{1 + int(self.rng.random() * 100):03d}"  # + province
            return "IT" + b + luhn.calc_check_digit(b)
        if cc == "SE":
            b = f"55{x:07d}"
            return "SE" + b + luhn.calc_check_digit(b) + "01"
        if cc == "AU":
            b = str(100_000_000 + x)
            n = abn.calc_check_digits(b) + b
            return f"{n[:2]} {n[2:5]} {n[5:8]} {n[8:]}"
        if cc == "CA":
            b = str(10_000_000 + x)
            return b + luhn.calc_check_digit(b) + "RT0001"
        if cc == "IN":
            x, digits = divmod(x, 9_999)
            x, last = divmod(x, 26)
            pan = (
                _UPPER[x // 676]
                + _UPPER[x // 26 % 26]
                + _UPPER[x % 26]
                + "C"
                + initial
                + f"{digits + 1:04d}"
                + _UPPER[last]
            )
            g = _IN_STATES.get(region, "27") + pan + "1Z"
            return g + luhn.calc_check_digit(g, _ALNUM36)
        if cc == "JP":
            b = str(100_000_000_000 + x)
            return cn.calc_check_digit(b) + b
        if cc == "BR":
            b = f"{10_000_000 + x}0001"
            return cnpj.format(b + cnpj.calc_check_digits(b))
        return f"{_EIN_PREFIXES[x // 10_000_000]}-{x % 10_000_000:07d}"  # US EIN

    def phone(self, c: _Country, area: str, sub: str, style: int) -> str:
        if c.dial == "1":  # NANP formats
            a, b = sub[:3], sub[3:]
            return (
                f"+1 {area} {a} {b}",
                f"({area}) {a}-{b}",
                f"{area}-{a}-{b}",
                f"{area}.{a}.{b}",
                f"+1 ({area}) {a}-{b}",
            )[style % 5]
        nat = c.trunk + area
        style %= 6
        if style == 0:
            return f"+{c.dial} {area} {sub}"
        if style == 1:
            return f"{nat} {sub}"
        if style == 2:
            return f"({nat}) {sub[:3]}-{sub[3:]}"
        if style == 3:
            return f"+{c.dial} ({c.trunk}){area} {sub}" if c.trunk else f"+{c.dial}-{area}-{sub}"
        if style == 4:
            return f"+{c.dial}{area}{sub}"
        return f"{nat}/{sub[:3]} {sub[3:]}"

    def ts(self) -> str:
        t = _TS0 + 60 * int(self.rng.random() * _TS_MINUTES)
        return datetime.fromtimestamp(t, UTC).isoformat()


def _postal_variant(cc: str, pc: str, rng: random.Random) -> str:
    """Postal codes as people and spreadsheets mangle them."""
    x = rng.random()
    if x < 0.5:
        return pc
    if " " in pc:  # GB, NL, SE, CA
        return pc.replace(" ", "") if x < 0.8 else pc.lower()
    if "-" in pc:  # JP, BR
        return pc.replace("-", "")
    if pc[0] == "0" and x < 0.65:  # Excel ate the leading zero
        return pc.lstrip("0")
    if cc == "US":
        return f"{pc}-{int(rng.random() * 9000) + 1000}"
    if cc in ("DE", "CH", "FR", "IT", "ES", "AU"):
        return {"DE": "D-", "CH": "CH-", "FR": "F-", "IT": "I-", "ES": "E-", "AU": ""}[cc] + pc
    if cc == "IN":
        return f"{pc[:3]} {pc[3:]}"
    return pc


def _tax_variant(tax: str, cc: str, rng: random.Random) -> str:
    x = rng.random()
    if x < 0.3 and cc in _VAT_PREFIXED:
        return tax[2:]  # country prefix left off
    if x < 0.45 and tax.isalnum():
        return " ".join(tax[i : i + 3] for i in range(0, len(tax), 3))
    if x < 0.55:
        return tax.lower()
    return tax


class _Entity:
    __slots__ = (
        "key",
        "family",
        "country",
        "core",
        "form",
        "addr",
        "old",
        "tax_id",
        "domain",
        "mail_domain",
        "area",
        "sub",
        "industry",
        "parent",
        "ids",
    )

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.parent: _Entity | None = None
        self.old: tuple | None = None


def _slug(base: str, rng: random.Random) -> str:
    """Domain label from the whole name base: distinct bases give distinct domains."""
    toks = (
        base.translate(_DEACCENT)
        .lower()
        .replace("&", " ")
        .replace("'", "")
        .replace(",", " ")
        .split()
    )
    return ("" if rng.random() < 0.6 else "-").join(toks)


# ---------------------------------------------------------------------------
# Customers
# ---------------------------------------------------------------------------
class _CustomerGen:
    def __init__(self, rng: random.Random, systems: tuple[str, ...]) -> None:
        self.rng, self.f, self.systems = rng, _Factory(rng), systems
        self.n_ent = self.n_fam = 0

    # -- names ------------------------------------------------------------
    # Every single company gets a unique name base (no tail word), drawn without replacement from
    # pattern spaces, so unrelated companies never share a name or a domain by accident; only
    # hard-negative families look alike, and they are labelled.
    def _base(self, kind: str, cc: str) -> str:
        f, ns, ni = self.f, len(_SURNAMES), len(_INDUSTRY_WORDS)
        for k in (kind, "brand", "trio"):  # fall back to the big spaces when a small one is used up
            if k == "native":
                words = _NATIVE_WORDS[cc]
                if (u := f.unique("native" + cc, ns * len(words))) >= 0:
                    return f"{_SURNAMES[u % ns]} {words[u // ns]}"
            elif k == "pair" and (u := f.unique(k, ns * ns)) >= 0:
                return f"{_SURNAMES[u % ns]} & {_SURNAMES[u // ns]}"
            elif k == "trio" and (u := f.unique(k, ns**3)) >= 0:
                return (
                    f"{_SURNAMES[u % ns]}, {_SURNAMES[u // ns % ns]} & {_SURNAMES[u // ns // ns]}"
                )
            elif k == "place" and (u := f.unique(k, len(_ADJECTIVES) * len(_NOUNS) * ni)) >= 0:
                u, adj = divmod(u, len(_ADJECTIVES))
                return f"{_ADJECTIVES[adj]} {_NOUNS[u % len(_NOUNS)]} {_INDUSTRY_WORDS[u // len(_NOUNS)]}"
            elif k == "surname" and (u := f.unique(k, ns * ni)) >= 0:
                return f"{_SURNAMES[u % ns]} {_INDUSTRY_WORDS[u // ns]}"
            elif (
                k == "brand"
                and (u := f.unique(k, _N_SYLLABLES * len(_SINGLE_MIDS) * (ni + 1))) >= 0
            ):
                u, ind = divmod(u, ni + 1)
                u, mid = divmod(u, len(_SINGLE_MIDS))
                brand = (
                    _BRAND_HEADS[u % len(_BRAND_HEADS)]
                    + _SINGLE_MIDS[mid]
                    + _BRAND_TAILS[u // len(_BRAND_HEADS)]
                )
                return f"{brand} {_INDUSTRY_WORDS[ind - 1]}" if ind else brand
        # Beyond ~1.5M companies the spaces are exhausted and names may repeat.
        return f"{_pick(self.rng, _SURNAMES)} & {_pick(self.rng, _SURNAMES)}"

    def family_brand(self) -> str:
        u = self.f.unique("family-brand", _N_SYLLABLES * len(_FAMILY_MIDS))
        u = (
            u if u >= 0 else int(self.rng.random() * _N_SYLLABLES * len(_FAMILY_MIDS))
        )  # used up: may repeat
        u, mid = divmod(u, len(_FAMILY_MIDS))
        return (
            _BRAND_HEADS[u % len(_BRAND_HEADS)]
            + _FAMILY_MIDS[mid]
            + _BRAND_TAILS[u // len(_BRAND_HEADS)]
        )

    def core_name(self, cc: str) -> tuple[str, str]:
        """(legal name without legal form, unique base the domain is derived from)."""
        r = self.rng.random
        x = r()
        kind = (
            "pair"
            if x < 0.12
            else "trio"
            if x < 0.17
            else "place"
            if x < 0.35
            else ("native" if cc in _NATIVE_WORDS and r() < 0.6 else "surname")
            if x < 0.46
            else "brand"
        )
        base = self._base(kind, cc)
        core = f"{base} {_pick(self.rng, _TAILS)}" if r() < 0.35 else base
        return ("The " + core if r() < 0.04 else core), base

    def crm_name(self, e: _Entity, short: bool = False) -> str:
        """Sales-typed (CRM) or short (PSA) spelling of the entity's name."""
        rng, r = self.rng, self.rng.random
        toks = e.core.split(" ")
        if toks[0] == "The" and r() < (0.7 if short else 0.5):
            toks = toks[1:]
        elif toks[0] != "The" and r() < 0.03:
            toks.insert(0, "The")
        if short:
            while len(toks) > 1 and toks[-1] in _TAIL_TOKENS and r() < 0.6:
                toks.pop()
            if len(toks) > 2 and r() < 0.3:
                toks = toks[:2]
                if toks[-1] in ("&", "and"):  # "Mehta & Becker" -> "Mehta", never "Mehta &"
                    toks.pop()
            if len(toks) > 2 and r() < 0.03:  # acronym: "BRTG"
                toks = ["".join(t[0] for t in toks if t[0].isalpha()).upper()]
        p_abbr = 0.5 if short else 0.4
        toks = [_pick(rng, _ABBREV[t]) if t in _ABBREV and r() < p_abbr else t for t in toks]
        name = " ".join(toks)
        x = r()
        form = e.country.forms[e.form]
        if x < (0.15 if short else 0.65):
            name += " " + (form[0] if x < (0.08 if short else 0.35) else _pick(rng, form))
        x = r()
        if x < (0.5 if short else 0.3):
            name = name.translate(_UMLAUT if x < 0.08 else _DEACCENT)
        x = r()
        if x < 0.15:
            name = name.translate(_NO_PUNCT)
        elif x < 0.23:
            name = name.upper()
        elif x < 0.26:
            name = name.lower()
        return _typo(name, rng) if r() < 0.1 else name

    # -- entities -----------------------------------------------------------
    def entity(
        self,
        cc: str,
        core: str,
        slug: str,
        form: int = 0,
        city: tuple | None = None,
        family: str | None = None,
        domain: str | None = None,
    ) -> _Entity:
        rng, r, f = self.rng, self.rng.random, self.f
        c = _COUNTRIES[cc]
        e = _Entity()
        self.n_ent += 1
        e.key, e.family, e.country, e.core, e.form = f"cust-{self.n_ent:06d}", family, c, core, form
        e.addr = f.address(c, city)
        if r() < 0.08:  # moved recently: ERP has the new billing address, CRM/PSA often the old one
            e.old = f.address(c, e.addr[2] if r() < 0.6 else None)
        initial = (core.translate(_DEACCENT).upper().replace("THE ", "") + "X")[0]
        e.tax_id = f.tax_id(cc, e.addr[2][2], initial if "A" <= initial <= "Z" else "X", form)
        e.domain = domain or slug + (c.tld if r() < 0.6 else ".com")
        e.mail_domain = e.domain if r() < 0.85 else slug + "-mail.com"  # legacy / group mail domain
        e.area = e.addr[2][4]
        n_sub = 7 if c.dial == "1" else min(8, max(6, 9 - len(e.area)))
        e.sub = str(2 + int(r() * 8)) + "".join(_B62[int(r() * 10)] for _ in range(n_sub - 1))
        e.industry = _pick(rng, _INDUSTRIES)
        return e

    def single(self) -> list[_Entity]:
        rng = self.rng
        cc = _pick(rng, _COUNTRY_BAG)
        core, base = self.core_name(cc)
        form = 0 if rng.random() < 0.8 else int(rng.random() * len(_COUNTRIES[cc].forms))
        return [self.entity(cc, core, _slug(base, rng), form)]

    def family(self, room: int) -> list[_Entity]:
        """A hard-negative family: distinct entities that look alike."""
        rng, r = self.rng, self.rng.random
        self.n_fam += 1
        x = r()
        kind = (
            "group" if x < 0.35 else "brand" if x < 0.6 else "generic" if x < 0.8 else "legal_form"
        )
        fam = f"{kind}-{self.n_fam:05d}"
        if kind == "group":  # holding + sister companies in several countries, one domain
            brand = self.family_brand()
            slug, hq = brand.lower(), _pick(rng, _COUNTRY_BAG)
            dom = slug + ".com"
            c = _COUNTRIES[hq]
            parent = self.entity(
                hq,
                f"{brand} {_pick(rng, ('Group', 'Holding', 'Holdings'))}",
                slug,
                1 if len(c.forms) > 1 and r() < 0.5 else 0,
                family=fam,
                domain=dom,
            )
            parent.mail_domain = dom
            out = [parent]
            countries = list(_COUNTRIES)
            rng.shuffle(countries)
            for cc in countries[: min(room - 1, 2 + int(r() * 3))]:
                child = self.entity(
                    cc,
                    brand,
                    slug,
                    0,
                    family=fam,
                    domain=dom if r() < 0.5 else slug + _COUNTRIES[cc].tld,
                )
                child.mail_domain, child.parent = dom, parent
                out.append(child)
            return out
        cc = "US" if kind == "generic" and r() < 0.5 else _pick(rng, _COUNTRY_BAG)
        size = min(room, 2 if kind == "legal_form" else 2 + int(r() * 2))
        if (
            kind == "brand"
        ):  # "Siemens AG" vs "Siemens Energy AG": token supersets, separate companies
            brand = self.family_brand()
            cores = [brand, *(f"{brand} {w}" for w in rng.sample(_INDUSTRY_WORDS, 2))]
            return [self.entity(cc, core, _slug(core, rng), 0, family=fam) for core in cores[:size]]
        c = _COUNTRIES[cc]
        if kind == "generic":  # same generic name in different cities, nothing else shared
            na, nn = len(_GENERIC_ADJ), len(_GENERIC_NOUNS)
            u = self.f.unique("generic", na * na * nn)
            u = (
                u if u >= 0 else int(r() * na * na * nn)
            )  # used up: names may repeat across families
            u, noun = divmod(u, nn)
            first, second = divmod(
                u, na
            )  # second 0 = none, else an offset that never repeats the first
            core = " ".join(
                filter(
                    None,
                    (
                        _GENERIC_ADJ[first],
                        second and _GENERIC_ADJ[(first + second) % na],
                        _GENERIC_NOUNS[noun],
                    ),
                )
            )
            return [
                self.entity(cc, core, _slug(f"{core} {city[1]}", rng), 0, city=city, family=fam)
                for city in rng.sample(c.cities, size)
            ]
        if len(c.forms) < 2:  # "Ltd" vs "LLP" needs a country with two legal forms
            cc, c = "GB", _COUNTRIES["GB"]
        core, base = self.core_name(cc)
        slug, city = _slug(base, rng), _pick(rng, c.cities)
        shared = (
            slug + c.tld if r() < 0.6 else None
        )  # the LLP and its service company often share a site
        return [
            self.entity(
                cc,
                core,
                slug + c.forms[form][0].lower().translate(_NO_PUNCT).replace(" ", ""),
                form,
                city=city,
                family=fam,
                domain=shared,
            )
            for form in rng.sample(range(len(c.forms)), 2)
        ]

    # -- records --------------------------------------------------------------
    def records(self, e: _Entity) -> list[SyntheticRecord]:
        rng, r = self.rng, self.rng.random
        pres = [s for s in _pick(rng, _PRESENCE_BAG) if s in self.systems]
        if e.family and e.family.startswith("group") and e.parent is None:
            # Group parents live in CRM and ERP so children's parent_source_id can point at them.
            pres = [s for s in SYSTEMS if s in self.systems and (s in pres or s != "psa")]
        if not pres:
            pres = [_pick(rng, self.systems)]
        out = []
        for s in pres:
            out.append(SyntheticRecord("customer", s, getattr(self, s)(e), e.key, e.family))
            e.ids.setdefault(s, out[-1].data["source_id"])
            if s == "crm" and r() < _CRM_DUP_RATE:  # second rep re-created the account
                out.append(SyntheticRecord("customer", s, self.crm(e, dup=True), e.key, e.family))
        return out

    def _city(self, city: tuple, p_english: float, p_deaccent: float) -> str:
        name = city[1] if self.rng.random() < p_english else city[0]
        return name.translate(_DEACCENT) if self.rng.random() < p_deaccent else name

    def crm(self, e: _Entity, dup: bool = False) -> dict[str, str]:
        rng, r, f, c = self.rng, self.rng.random, self.f, e.country
        full, abbr, city, pc = e.old if e.old and r() < 0.7 else e.addr
        miss = 0.35 if dup else 0.0  # quick-entered duplicates are sparser
        has_addr = r() < 0.85 - miss
        d = _pick(rng, ("https://www.{}", "www.{}", "{}", "http://{}/", "https://{}")).format(
            e.domain
        )
        x = r()
        return {
            "source_id": f.sf_id("001"),
            "name": self.crm_name(e),
            "tax_id": _tax_variant(e.tax_id, c.code, rng) if r() < (0.4 - miss) else "",
            "website": d if r() < 0.9 - miss else "",
            "email": f"{_pick(rng, ('info', 'contact', 'sales', 'hello'))}@{e.mail_domain}"
            if r() < 0.7 - miss
            else "",
            "phone": f.phone(c, e.area, e.sub, int(r() * 6)) if r() < 0.85 - miss else "",
            "address_line1": (abbr if r() < 0.5 else full) if has_addr else "",
            "city": self._city(city, 0.6, 0.2) if has_addr or r() < 0.5 else "",
            "region": city[2] if has_addr and r() < 0.7 else "",
            "postal_code": _postal_variant(c.code, pc, rng) if has_addr else "",
            "country": c.names[0] if x < 0.45 else c.code if x < 0.75 else _pick(rng, c.names[1:]),
            "parent_source_id": e.parent.ids.get("crm", "") if e.parent else "",
            "industry": e.industry if r() < 0.9 - miss else "",
            "currency": c.currency if r() < 0.85 else _pick(rng, ("USD", "EUR")),
            "updated_at": f.ts(),
        }

    def psa(self, e: _Entity) -> dict[str, str]:
        rng, r, f, c = self.rng, self.rng.random, self.f, e.country
        full, abbr, city, pc = e.old if e.old and r() < 0.5 else e.addr
        has_addr = r() < 0.35
        x = r()
        return {
            "source_id": str(f.seq("psa-cust", 5000, 3)),
            "name": self.crm_name(e, short=True),
            "tax_id": _tax_variant(e.tax_id, c.code, rng) if r() < 0.15 else "",
            "website": f"www.{e.domain}" if r() < 0.3 else "",
            "email": f"{_pick(rng, ('billing', 'projects', 'info'))}@{e.mail_domain}"
            if r() < 0.4
            else "",
            "phone": f.phone(c, e.area, e.sub, int(r() * 6)) if r() < 0.4 else "",
            "address_line1": (abbr if r() < 0.6 else full) if has_addr else "",
            "city": self._city(city, 0.5, 0.5) if r() < 0.7 else "",
            "region": city[2] if has_addr and r() < 0.3 else "",
            "postal_code": _postal_variant(c.code, pc, rng) if has_addr else "",
            "country": "" if x < 0.2 else c.code if x < 0.4 else _pick(rng, c.names),
            "parent_source_id": e.parent.ids.get("psa", "") if e.parent and r() < 0.5 else "",
            "industry": e.industry if r() < 0.4 else "",
            "currency": c.currency if r() < 0.6 else "",
            "updated_at": f.ts(),
        }

    def erp(self, e: _Entity) -> dict[str, str]:
        rng, r, f, c = self.rng, self.rng.random, self.f, e.country
        full, _, city, pc = e.addr
        form = c.forms[e.form]
        name = f"{e.core} {form[0] if r() < 0.95 else _pick(rng, form)}"
        if r() < 0.05:
            name = name.upper()  # legacy ERP screens in capitals
        return {
            "source_id": f"C-{f.seq('erp-cust', 1000, 3)}",
            "name": name,  # the legal name as invoiced: the one spelling no one retypes
            "tax_id": e.tax_id,
            "website": f"www.{e.domain}" if r() < 0.3 else "",
            "email": f"{_pick(rng, ('ap', 'invoices', 'accounts.payable', 'billing'))}@{e.mail_domain}"
            if r() < 0.8
            else "",
            "phone": f.phone(c, e.area, e.sub, 0 if r() < 0.7 else 1),
            "address_line1": full,
            "city": city[0],
            "region": city[2],
            "postal_code": pc,
            "country": c.code,
            "parent_source_id": e.parent.ids.get("erp", "") if e.parent else "",
            "industry": e.industry if r() < 0.5 else "",
            "currency": c.currency,
            "updated_at": f.ts(),
        }

    def run(self, n: int) -> Iterator[SyntheticRecord]:
        r = self.rng.random
        buf: list[SyntheticRecord] = []
        made = 0
        while made < n:
            ents = self.family(n - made) if n - made >= 2 and r() < _FAMILY_RATE else self.single()
            made += len(ents)
            for e in ents:
                for rec in self.records(e):
                    if len(buf) < _SHUFFLE:
                        buf.append(rec)
                    else:
                        i = int(r() * _SHUFFLE)
                        yield buf[i]
                        buf[i] = rec
        self.rng.shuffle(buf)
        yield from buf


def generate_customers(
    n_entities: int, *, seed: int = 7, systems: tuple[str, ...] = SYSTEMS
) -> Iterator[SyntheticRecord]:
    """Stream customer records for ``n_entities`` real companies (1-4 records each)."""
    if n_entities < 0:
        raise ValueError("n_entities must be >= 0")
    unknown = set(systems) - set(SYSTEMS)
    if unknown or not systems:
        raise ValueError(f"systems must be a non-empty subset of {SYSTEMS}, got {systems!r}")
    # Not a generator itself, so bad arguments fail at the call site rather than on first next().
    return _CustomerGen(random.Random(seed), tuple(s for s in SYSTEMS if s in systems)).run(
        n_entities
    )


# ---------------------------------------------------------------------------
# The firm's own legal entities
# ---------------------------------------------------------------------------
_FIRM_ENTITIES = (
    ("Northwind Consulting Inc.", "US", 0),
    ("Northwind Advisory LLC", "US", 1),
    ("Northwind Consulting Ltd", "GB", 0),
    ("Northwind Consulting GmbH", "DE", 0),
    ("Northwind Consulting SAS", "FR", 0),
    ("Northwind Consulting B.V.", "NL", 0),
    ("Northwind Consulting AG", "CH", 0),
    ("Northwind Consulting Pty Ltd", "AU", 0),
    ("Northwind Consulting Pvt. Ltd.", "IN", 0),
)  # (legal name, country, city index)


def _registration(cc: str, tax: str, rng: random.Random) -> str:
    digits = "".join(_B62[int(rng.random() * 10)] for _ in range(8))
    return {
        "US": digits[:7],
        "GB": "0" + digits[:7],
        "DE": f"HRB {digits[:6]}",
        "FR": f"RCS Paris {tax[4:7]} {tax[7:10]} {tax[10:]}",
        "NL": digits,
        "CH": tax[:-5],
        "AU": tax[3:],
        "IN": f"U74140MH20{10 + int(digits[0])}PTC{digits[2:]}",
    }[cc]


# Countries whose register-number format ``_registration`` knows.
_GROUP_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "CH", "AU", "IN")
_SISTER_WORDS = ("Advisory", "Digital", "Holding", "Consulting Services")


def _group_entities(brand: str, rng: random.Random) -> list[tuple[str, str, int, bool]]:
    """The contracting entities of another firm: (legal name, country, city index, shares the
    previous entity's office). About half the groups have a sister entity in their home
    country, often in the same office and with the same legal form: only the register and
    tax IDs tell the two apart."""
    r = rng.random
    countries = rng.sample(_GROUP_COUNTRIES, 2 + int(r() * 4))
    out = []
    for cc in countries:
        form = _COUNTRIES[cc].forms[0][0]
        out.append((f"{brand} Consulting {form}", cc, int(r() * 2), False))
    if r() < 0.5:
        home = _COUNTRIES[countries[0]]
        forms = home.forms[: 1 if r() < 0.7 else 2]
        sister = f"{brand} {_pick(rng, _SISTER_WORDS)} {_pick(rng, forms)[0]}"
        out.append((sister, home.code, out[0][2], r() < 0.6))
    return out


def generate_legal_entities(*, seed: int = 7, groups: int = 1) -> list[SyntheticRecord]:
    """The firm's own contracting entities (group 1, Northwind) and, for ``groups`` > 1, those
    of other firms (an acquisition's, a partner network's): all in ERP (subsidiaries), most in
    PSA. Each group is a hard-negative family: one brand, several entities, each with its own
    register and tax IDs."""
    if groups < 1:
        raise ValueError("groups must be >= 1")
    rng = random.Random(f"legal-entities-{seed}")
    r, f = rng.random, _Factory(rng)
    plan = [("Northwind", "NW", 1, [(*spec, False) for spec in _FIRM_ENTITIES])]
    for g in range(2, groups + 1):
        k = f.unique("le-brand", _N_SYLLABLES)
        head, tail = _BRAND_HEADS[k // len(_BRAND_TAILS)], _BRAND_TAILS[k % len(_BRAND_TAILS)]
        brand = f"{head}{_pick(rng, _FAMILY_MIDS)}{tail}"
        plan.append((brand, brand[:3].upper(), g, _group_entities(brand, rng)))
    out: list[SyntheticRecord] = []
    i = 0
    for brand, abbrev, g, entities in plan:
        family = f"le-group-{g:03d}"
        previous: tuple | None = None
        for name, cc, city_i, same_office in entities:
            i += 1
            c = _COUNTRIES[cc]
            office = previous if same_office and previous else f.address(c, c.cities[city_i])
            previous = office
            full, abbr, city, pc = office
            tax = f.tax_id(cc, city[2], "N", 0)
            key, sub = f"le-{i:02d}", f"SUB-{i}"
            erp = {
                "source_id": sub,
                "name": name,
                "registration_number": _registration(cc, tax, rng),
                "tax_id": tax,
                "country": cc,
                "base_currency": c.currency,
                "erp_subsidiary_code": sub,
                "address_line1": full,
                "city": city[0],
                "postal_code": pc,
                "updated_at": f.ts(),
            }
            out.append(SyntheticRecord("legal_entity", "erp", erp, key, family))
            if r() < 0.75:  # PSA admins set these up by hand, so spellings drift
                base = " ".join(name.split()[:2])  # "Northwind Consulting", legal form dropped
                psa_name = _pick(
                    rng,
                    (
                        f"{brand} {c.names[0]}",
                        name.replace(brand, abbrev),
                        f"{base} ({cc})",
                        name.translate(_NO_PUNCT),
                        name.upper(),
                    ),
                )
                psa = {
                    "source_id": str(f.seq("psa-le", 10, 2)),
                    "name": psa_name,
                    "registration_number": erp["registration_number"] if r() < 0.3 else "",
                    "tax_id": _tax_variant(tax, cc, rng) if r() < 0.4 else "",
                    "country": _pick(rng, (cc, c.names[0], c.names[1])),
                    "base_currency": c.currency if r() < 0.8 else "",
                    "erp_subsidiary_code": sub if r() < 0.6 else "",
                    "address_line1": abbr if r() < 0.5 else "",
                    "city": city[1] if r() < 0.8 else "",
                    "postal_code": _postal_variant(cc, pc, rng) if r() < 0.4 else "",
                    "updated_at": f.ts(),
                }
                out.append(SyntheticRecord("legal_entity", "psa", psa, key, family))
    return out


# ---------------------------------------------------------------------------
# Service codes
# ---------------------------------------------------------------------------
_SERVICES = (  # (name, category, unit, PSA code); no PSA code = ERP-only (PSA does not bill it)
    ("Partner", "consulting", "hour", "PTNR"),
    ("Director", "consulting", "hour", "DIR"),
    ("Senior Manager", "consulting", "hour", "SR-MGR"),
    ("Manager", "consulting", "hour", "MGR"),
    ("Senior Consultant", "consulting", "hour", "SR-CONS"),
    ("Consultant", "consulting", "hour", "CONS"),
    ("Analyst", "consulting", "hour", "ANL"),
    ("Solution Architect", "consulting", "hour", "SOL-ARCH"),
    ("Data Scientist", "consulting", "hour", "DATA-SCI"),
    ("Project Manager", "consulting", "hour", "PM"),
    ("Business Analyst", "consulting", "hour", "BA"),
    ("Senior Developer", "consulting", "hour", "SR-DEV"),
    ("Developer", "consulting", "hour", "DEV"),
    ("Strategy Advisory", "advisory", "day", "ADV-STRAT"),
    ("Regulatory Advisory", "advisory", "day", "ADV-REG"),
    ("Financial Due Diligence", "advisory", "fixed", "ADV-FDD"),
    ("Transformation Advisory", "advisory", "day", "ADV-TRANS"),
    ("ERP Implementation", "implementation", "fixed", "IMPL-ERP"),
    ("CRM Implementation", "implementation", "fixed", "IMPL-CRM"),
    ("Data Migration", "implementation", "fixed", "IMPL-DM"),
    ("Integration Development", "implementation", "day", "IMPL-INT"),
    ("Onsite Training", "training", "day", "TRN-ONSITE"),
    ("Virtual Training Session", "training", "each", "TRN-VIRT"),
    ("Application Support Retainer", "managed_services", "month", "MS-APPSUP"),
    ("Managed Analytics", "managed_services", "month", "MS-ANALYTICS"),
    ("Travel - Airfare", "expenses", "each", "EXP-AIR"),
    ("Travel - Lodging", "expenses", "each", "EXP-HOTEL"),
    ("Per Diem", "expenses", "day", "EXP-PD"),
    ("Mileage", "expenses", "each", "EXP-MILE"),
    ("Third-Party Costs", "expenses", "each", "EXP-3P"),
    ("Software Licence - Annual", "licences", "each", ""),
    ("SaaS Subscription", "licences", "month", ""),
    # The same name in another category is another service (hard negatives).
    ("Data Migration", "managed_services", "month", "MS-DM"),
    ("Project Manager", "implementation", "day", "IMPL-PM"),
    ("Solution Architect", "managed_services", "month", "MS-ARCH"),
    ("Onsite Training", "expenses", "each", "EXP-TRN"),
)
# Practices with their own hourly rate card (the roles of the consulting category, each
# practice's PSA codes prefixed): "Senior Consultant - Cyber" is not "Senior Consultant".
_PRACTICES = (
    ("Cyber", "CYB"),
    ("Tax", "TAX"),
    ("Deals", "DLS"),
    ("Risk", "RSK"),
    ("People", "PPL"),
    ("Cloud", "CLD"),
    ("Finance", "FIN"),
    ("Supply Chain", "SCM"),
    ("Analytics", "ANA"),
    ("Legal", "LGL"),
    ("Sustainability", "ESG"),
    ("Operations", "OPS"),
)
_UNIT_LABEL = {
    "hour": " - Hourly",
    "day": " - Daily",
    "fixed": " - Fixed Fee",
    "month": " - Monthly",
    "each": "",
}
_REVENUE = {
    "consulting": "4000",
    "advisory": "4010",
    "implementation": "4100",
    "training": "4200",
    "managed_services": "4300",
    "licences": "4400",
    "expenses": "4900",
}


def _service_plan(practices: int) -> list[tuple[str, str, str, str, str]]:
    """(name, category, unit, PSA code, family): the firm's catalogue, then the rate cards of
    ``practices`` - 1 practices. The family is the role or service name shared by distinct
    services (hard negatives)."""
    plan = [(name, cat, unit, code, name) for name, cat, unit, code in _SERVICES]
    for practice, prefix in _PRACTICES[: practices - 1]:
        plan += [
            (f"{name} - {practice}", cat, unit, f"{prefix}-{code}", name)
            for name, cat, unit, code in _SERVICES
            if cat == "consulting"
        ]
    return plan


def generate_service_codes(*, seed: int = 7, practices: int = 1) -> list[SyntheticRecord]:
    """Billable services: ERP items ("ITEM-0042") vs PSA codes ("SR-CONS") for the same thing.
    ``practices`` (1 to 13) adds the hourly rate cards of further practices."""
    if not 1 <= practices <= len(_PRACTICES) + 1:
        raise ValueError(f"practices must be between 1 and {len(_PRACTICES) + 1}")
    rng = random.Random(f"service-codes-{seed}")
    r, f = rng.random, _Factory(rng)
    out: list[SyntheticRecord] = []
    for i, (name, cat, unit, psa_code, family) in enumerate(_service_plan(practices), start=1):
        key, item = f"svc-{i:03d}", f"ITEM-{f.seq('erp-item', 20, 4):04d}"
        account = _REVENUE[cat]
        out.append(
            SyntheticRecord(
                "service_code",
                "erp",
                {
                    "source_id": item,
                    "code": item,
                    "name": name + _UNIT_LABEL[unit],
                    "category": cat,
                    "unit": unit,
                    "tax_code": "REIMB" if cat == "expenses" else "STD",
                    "revenue_account": f"{account} {cat.replace('_', ' ').title()} Revenue",
                    "updated_at": f.ts(),
                },
                key,
                family,
            )
        )
        if psa_code:
            # PSA admins key these in by hand: abbreviations, another word order, typos,
            # and no category now and then.
            psa_name = name
            if family != name and r() < 0.5:
                psa_name = f"{name.rsplit(' - ', 1)[1]} {family}"  # "Cyber Senior Consultant"
            if r() < 0.4:
                psa_name = psa_name.replace("Senior ", "Sr. ").replace("Manager", "Mgr")
            if r() < 0.1:
                psa_name = _typo(psa_name, rng)
            out.append(
                SyntheticRecord(
                    "service_code",
                    "psa",
                    {
                        "source_id": str(f.seq("psa-svc", 100, 5)),
                        "code": psa_code,
                        "name": psa_name,
                        "category": cat if r() < 0.85 else "",
                        "unit": unit,
                        "tax_code": "Standard" if r() < 0.4 else "",
                        "revenue_account": account if r() < 0.3 else "",
                        "updated_at": f.ts(),
                    },
                    key,
                    family,
                )
            )
    return out


# ---------------------------------------------------------------------------
# Projects
# ---------------------------------------------------------------------------
_PROJECT_TYPES = (
    ("ERP Implementation", "ERP Impl"),
    ("CRM Rollout", "CRM"),
    ("Data Platform Build", "Data Plat"),
    ("Finance Transformation", "Fin Transf"),
    ("Cloud Migration", "Cloud Mig"),
    ("Cybersecurity Assessment", "Cyber"),
    ("Operating Model Review", "OpModel"),
    ("Managed Analytics Service", "Mgd Analytics"),
    ("Due Diligence", "DD"),
    ("Process Automation", "RPA"),
    ("Strategy Refresh", "Strategy"),
    ("Supply Chain Optimisation", "SC Opt"),
)
_DEPARTMENTS = (
    ("Technology Consulting", "410"),
    ("Strategy", "420"),
    ("Finance Advisory", "430"),
    ("Data & Analytics", "440"),
    ("Managed Services", "450"),
)
_BILLING_BAG = tuple(
    m
    for m, w in (("tm", 10), ("fixed_fee", 5), ("milestone", 3), ("retainer", 2))
    for _ in range(w)
)


def _country_of(rec: SyntheticRecord) -> str:
    return _COUNTRY_LOOKUP.get(rec.data.get("country", "").lower(), "")


def generate_projects(
    customers: Sequence[SyntheticRecord],
    legal_entities: Sequence[SyntheticRecord],
    n_projects: int,
    *,
    seed: int = 7,
) -> list[SyntheticRecord]:
    """Projects in CRM (opportunity-linked), PSA and ERP, each referencing the customer and
    billing legal entity records of its own system. ~25% of PSA projects lack financial
    dimensions (cost centre, billing entity) because that is what real PSA data looks like."""
    rng = random.Random(f"projects-{seed}")
    r, f = rng.random, _Factory(rng)
    cust: dict[str, dict[str, list[SyntheticRecord]]] = {}
    for rec in customers:
        if rec.entity == "customer":
            cust.setdefault(rec.entity_key, {}).setdefault(rec.system, []).append(rec)
    les: dict[str, dict[str, SyntheticRecord]] = {}
    for rec in legal_entities:
        les.setdefault(rec.entity_key, {})[rec.system] = rec
    le_by_country: dict[str, list[str]] = defaultdict(list)
    for k, by_sys in les.items():
        le_by_country[_country_of(by_sys.get("erp") or next(iter(by_sys.values())))].append(k)
    if not cust or n_projects <= 0:
        return []
    keys = list(cust)
    out: list[SyntheticRecord] = []
    previous: tuple[str, tuple[str, str], date] | None = None
    for i in range(1, n_projects + 1):
        # A follow-on (phase 2, renewal) of the previous project: same customer, same kind
        # of work, later dates and a new opportunity. Hard negatives for matching.
        follow_on = previous is not None and r() < 0.15
        cust_key = previous[0] if follow_on else _pick(rng, keys)
        by_sys = cust[cust_key]
        cc = _country_of((by_sys.get("erp") or by_sys.get("crm") or by_sys["psa"])[0]) or "US"
        hub = "US" if cc in ("US", "CA", "BR") else "AU" if cc in ("AU", "JP") else "GB"
        cands = le_by_country.get(cc) or le_by_country.get(hub) or list(les)
        le_key = _pick(rng, cands) if cands else None
        le_erp = les[le_key].get("erp") if le_key else None
        le_cc = _country_of(le_erp) if le_erp else cc
        currency = le_erp.data["base_currency"] if le_erp and r() < 0.7 else _COUNTRIES[cc].currency
        systems = [
            s for s, p in (("crm", 0.75), ("psa", 0.9), ("erp", 0.7)) if s in by_sys and r() < p
        ]
        systems = systems or [_pick(rng, list(by_sys))]
        ptype, pshort = previous[1] if follow_on else _pick(rng, _PROJECT_TYPES)
        dept, dcode = _pick(rng, _DEPARTMENTS)
        first, last = _pick(rng, _FIRST_NAMES), _pick(rng, _SURNAMES)
        billing = _pick(rng, _BILLING_BAG)
        start = (
            previous[2] + timedelta(days=1 + int(r() * 60))
            if follow_on
            else date(2023, 1, 1) + timedelta(days=int(r() * 1250))
        )
        end = start + timedelta(days=30 + int(r() * 510))
        previous = (cust_key, (ptype, pshort), end)
        status = (
            "planned"
            if start > _TODAY
            else "closed"
            if end < _TODAY
            else "on_hold"
            if r() < 0.07
            else "active"
        )
        cost_center = f"CC-{le_cc}-{dcode}"
        crm_id = f.sf_id("006") if "crm" in systems else ""
        key = f"proj-{i:06d}"
        for s in systems:
            crec = _pick(rng, by_sys[s])  # may be the CRM duplicate account: that happens too
            cname = crec.data["name"]
            le_rec = les[le_key].get(s) if le_key else None
            d = {
                "source_id": "",
                "code": "",
                "name": "",
                "customer_source_id": crec.data["source_id"],
                "billing_legal_entity_source_id": le_rec.data["source_id"] if le_rec else "",
                "billing_method": billing,
                "currency": currency,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "status": status,
                "cost_center": cost_center,
                "department": dept,
                "project_manager": "",
                "crm_opportunity_ref": "",
                "updated_at": f.ts(),
            }
            if s == "crm":  # the won opportunity; CRM holds no legal entities or cost centres
                stale = {"active": "planned", "closed": "active", "on_hold": "active"}
                d.update(
                    source_id=crm_id,
                    code=f"OPP-{f.seq('opp', 1000, 2):06d}",
                    name=f"{cname} - {ptype}",
                    billing_method=billing if r() < 0.7 else "",
                    cost_center="",
                    department="",
                    # The opportunity's expected start, often off by a few weeks.
                    start_date=(
                        (start + timedelta(days=int(r() * 43) - 21)).isoformat()
                        if r() < 0.3
                        else d["start_date"]
                    )
                    if r() < 0.8
                    else "",
                    end_date=d["end_date"] if r() < 0.6 else "",
                    status=stale.get(status, status) if r() < 0.15 else status,
                    project_manager=f"{first} {last}" if r() < 0.5 else "",
                    crm_opportunity_ref=crm_id,
                )
            elif s == "psa":
                pid = f.seq("psa-proj", 20000, 4)
                gap = r() < 0.25  # missing financial dimensions: the real-world pain
                d.update(
                    source_id=str(pid),
                    code=f"P-{pid}",
                    name=f"{cname} {pshort} {start.year}",
                    billing_legal_entity_source_id=""
                    if gap
                    else d["billing_legal_entity_source_id"],
                    cost_center="" if gap or r() < 0.1 else cost_center,
                    currency=currency if r() < 0.9 else "",
                    project_manager=f"{first[0]}. {last}",
                    crm_opportunity_ref=crm_id if r() < 0.7 else "",
                )
            else:
                code = f"PRJ-{start.year}-{f.seq(f'erp-prj-{start.year}', 0):03d}"
                d.update(
                    source_id=code,
                    code=code,
                    name=f"{ptype} - {cname}",
                    project_manager=f"{last}, {first}",
                    crm_opportunity_ref=crm_id if r() < 0.4 else "",
                )
            out.append(SyntheticRecord("project", s, d, key, f"{cust_key}:{pshort}"))
    return out


# ---------------------------------------------------------------------------
# Evaluation and export helpers
# ---------------------------------------------------------------------------
def true_pairs(records: Iterable[SyntheticRecord]) -> set[tuple[int, int]]:
    """Index pairs (i < j) of records sharing an entity_key, indices as enumerated."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        groups[rec.entity_key].append(i)
    return {pair for idx in groups.values() if len(idx) > 1 for pair in combinations(idx, 2)}


def write_csv(
    records: Iterable[SyntheticRecord], path: str | PathLike[str], fields: Sequence[str]
) -> int:
    """Write the records' data as CSV with ``fields`` as header; returns the row count."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fields), restval="", extrasaction="ignore")
        w.writeheader()
        for rec in records:
            w.writerow(rec.data)
            n += 1
    return n


def write_jsonl(
    records: Iterable[SyntheticRecord],
    path: str | PathLike[str],
    fields: Sequence[str] | None = None,
) -> int:
    """Write one JSON object per line (only ``fields`` if given); returns the line count."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            obj = rec.data if fields is None else {k: rec.data.get(k, "") for k in fields}
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n
