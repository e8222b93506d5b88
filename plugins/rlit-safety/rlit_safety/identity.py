"""Identity terms, and neutralising them before a toxicity classifier sees the text.

alt-profanity-check's classifier learned from comment data in which identity words co-occur with
abuse, so it scores "I am a gay man." 0.95 and "I am a straight man." 0.10. Used as a PPO penalty
that would teach a policy to avoid mentioning identities. Replacing every identity term with the
same neutral word before classification makes the score independent of which identity is named
(the swap gap is then zero for listed terms); abuse is still caught by the rest of the text.
"""

from __future__ import annotations

import re
from pathlib import Path
from functools import lru_cache

# The neutral word that replaces identity terms. It is an English stop word, so TF-IDF models drop
# it, and it still reads naturally for transformer classifiers.
PLACEHOLDER = "someone"

# Grouped only for readability; every term is treated the same way. Plural forms are listed
# explicitly (no stemming), multi-word terms are matched before single words.
IDENTITY_TERMS: dict[str, tuple[str, ...]] = {
    "sexual orientation": (
        "gay", "gays", "lesbian", "lesbians", "bisexual", "bisexuals", "bi", "homosexual", "homosexuals",
        "heterosexual", "heterosexuals", "straight", "queer", "queers", "pansexual", "asexual", "lgbt",
        "lgbtq", "lgbtqia", "lgbtq+",
    ),
    "gender": (
        "transgender", "trans", "transsexual", "cisgender", "cis", "nonbinary", "non-binary", "genderqueer",
        "intersex", "woman", "women", "man", "men", "female", "females", "male", "males", "girl", "girls",
        "boy", "boys", "lady", "ladies", "gentleman", "gentlemen",
    ),
    "race and ethnicity": (
        "black", "blacks", "white", "whites", "asian", "asians", "african american", "african americans",
        "african-american", "african", "africans", "latino", "latinos", "latina", "latinas", "latinx",
        "hispanic", "hispanics", "arab", "arabs", "indigenous", "native american", "native americans",
        "caucasian", "caucasians", "chinese", "japanese", "korean", "indian", "indians", "mexican",
        "mexicans", "pakistani", "nigerian", "middle eastern", "european", "europeans", "roma",
    ),
    "religion": (
        "muslim", "muslims", "islamic", "jewish", "jew", "jews", "christian", "christians", "catholic",
        "catholics", "protestant", "hindu", "hindus", "buddhist", "buddhists", "sikh", "sikhs", "atheist",
        "atheists", "mormon", "mormons",
    ),
    "disability and age": (
        "disabled", "deaf", "blind", "autistic", "wheelchair user", "elderly", "senior", "seniors",
    ),
    "nationality": (
        "afghan", "albanian", "algerian", "american", "americans", "argentine", "argentinian", "armenian",
        "australian", "austrian", "bangladeshi", "belgian", "bolivian", "bosnian", "brazilian", "british",
        "bulgarian", "cambodian", "canadian", "chilean", "colombian", "congolese", "croatian", "cuban", "czech",
        "danish", "dominican", "dutch", "ecuadorian", "egyptian", "english", "eritrean", "ethiopian",
        "filipino", "filipina", "finnish", "french", "georgian", "german", "germans", "ghanaian", "greek",
        "guatemalan", "haitian", "honduran", "hungarian", "indonesian", "iranian", "iraqi", "irish", "israeli",
        "israelis", "italian", "italians", "jamaican", "jordanian", "kenyan", "kurdish", "laotian", "lebanese",
        "libyan", "malaysian", "moroccan", "nepali", "norwegian", "palestinian", "palestinians", "persian",
        "peruvian", "polish", "portuguese", "puerto rican", "romanian", "russian", "russians", "salvadoran",
        "saudi", "scottish", "senegalese", "serbian", "somali", "south african", "spanish", "sri lankan",
        "sudanese", "swedish", "swiss", "syrian", "taiwanese", "thai", "tibetan", "turkish", "ugandan",
        "ukrainian", "venezuelan", "vietnamese", "welsh", "yemeni", "zimbabwean",
    ),
    "other": ("immigrant", "immigrants", "refugee", "refugees", "migrant", "migrants"),
}


def all_identity_terms(extra_terms: tuple[str, ...] = ()) -> list[str]:
    """Every identity term (plus ``extra_terms``), lower-case, longest first (multi-word terms win)."""
    terms = {t for group in IDENTITY_TERMS.values() for t in group} | {t.lower() for t in extra_terms}
    return sorted(terms, key=lambda t: (-len(t), t))


@lru_cache(maxsize=8)
def _multiword_pattern(extra_terms: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    phrases = [t for t in all_identity_terms(extra_terms) if " " in t]
    if not phrases:
        return None
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in phrases)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=8)
def _single_words(extra_terms: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(t for t in all_identity_terms(extra_terms) if " " not in t)


_WORD = re.compile(r"(?<![\w-])[^\W\d_][\w-]*\+?")


def neutralize_identity(text: str, placeholder: str = PLACEHOLDER, extra_terms: tuple[str, ...] = ()) -> str:
    """``text`` with every identity term (and each of ``extra_terms``) replaced by ``placeholder``.

    Multi-word terms first (one small regex), then single words by set lookup (fast on long texts).
    """
    extra_terms = tuple(extra_terms)
    multi = _multiword_pattern(extra_terms)
    if multi is not None:
        text = multi.sub(placeholder, text)
    words = _single_words(extra_terms)

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        lowered = token.lower()
        if lowered in words:
            return placeholder
        if lowered.endswith("+") and lowered[:-1] in words:  # "gay+" -> "someone+"
            return placeholder + "+"
        return token

    return _WORD.sub(replace, text)


@lru_cache(maxsize=1)
def _term_set() -> frozenset[str]:
    return frozenset(all_identity_terms())


def is_identity_term(word: str) -> bool:
    return word.lower() in _term_set()


# Identity terms that fill the identity-swap templates (data/identity_templates.txt): all are on
# the neutralisation list above, so the default backend's gap on them measures the mechanism.
SWAP_TERMS: tuple[str, ...] = (
    "gay", "straight", "lesbian", "bisexual", "transgender", "queer", "nonbinary", "Black", "white", "Asian",
    "Latino", "Hispanic", "Arab", "African American", "Native American", "Mexican", "Chinese", "Indian",
    "Jewish", "Muslim", "Christian", "Hindu", "Buddhist", "Sikh", "atheist", "disabled", "deaf", "blind",
    "immigrant", "elderly",
)
# Identity terms deliberately NOT on the neutralisation list: the gap on these shows how the
# backend behaves for identities the list does not know.
UNLISTED_TERMS: tuple[str, ...] = (
    "Jain", "Quaker", "Rastafarian", "Baha'i", "Amish", "Druze", "Maori", "Inuit", "Tamil", "Yoruba",
    "Pashtun", "Hmong", "Romani", "Zoroastrian", "Shinto", "pagan",
)


def identity_templates() -> list[str]:
    """The project's benign sentence templates with a ``{group}`` slot (one per line)."""
    path = Path(__file__).parent / "data" / "identity_templates.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
