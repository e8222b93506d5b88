"""better-profanity's word list as a second toxicity signal (identity terms removed from it)."""

from __future__ import annotations

import re
from functools import lru_cache

from rlit_safety.identity import is_identity_term
from rlit_safety.packages import PROFANITY_INSTALL, package_file

# Common character substitutions in obfuscated profanity ("sh1t", "@ss", "f*ck" stays unmatched).
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


@lru_cache(maxsize=1)
def profane_words() -> frozenset[str]:
    """The 916 entries of better_profanity/profanity_wordlist.txt, normalised, minus identity terms.

    The list contains words such as "gay", "queer" and "lesbians"; counting those as profanity would
    reintroduce exactly the identity bias the default backend removes.
    """
    path = package_file("better_profanity", "profanity_wordlist.txt", PROFANITY_INSTALL)
    entries = (" ".join(normalize(line).split()) for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in entries if w and not is_identity_term(w))


@lru_cache(maxsize=1)
def _longest_phrase() -> int:
    return max(len(w.split()) for w in profane_words())


def normalize(text: str) -> str:
    """Lower-case, undo common leetspeak inside words, and turn other punctuation into spaces."""
    lowered = text.lower()
    # Translate digits/symbols only when they sit next to letters, so "I have 5 cats" is untouched.
    lowered = re.sub(r"(?<=[a-z])[013457@$]+|[013457@$]+(?=[a-z])", lambda m: m.group(0).translate(_LEET), lowered)
    return re.sub(r"[^a-z\s]", " ", lowered)


def find_profanity(text: str) -> list[str]:
    """Listed profane words and phrases found in ``text`` (after normalisation), in order, longest first."""
    words, listed, longest = normalize(text).split(), profane_words(), _longest_phrase()
    found, i = [], 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            phrase = " ".join(words[i:i + n])
            if phrase in listed:
                found.append(phrase)
                i += n
                break
        else:
            i += 1
    return found
