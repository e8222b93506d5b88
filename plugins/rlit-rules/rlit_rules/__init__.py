"""rlit-rules: rule-based reward sources (IFEval instructions, length, repetition, JSON, regex)."""

import rlit

from rlit_rules.ifeval import IFEvalSource
from rlit_rules.json_valid import JsonValidSource
from rlit_rules.length import LengthSource
from rlit_rules.regex_rule import RegexSource
from rlit_rules.repetition import RepetitionSource

SOURCES = (IFEvalSource, LengthSource, RepetitionSource, JsonValidSource, RegexSource)


@rlit.hookimpl
def register_rewards(register):
    for source in SOURCES:
        register(source)
