"""How each of the 25 instructions is worded, with distinct wordings per split.

A phrasing is a format string over the instruction's kwargs plus a few helpers ({kw} for a
keyword list, {lang} for a language name). Relational instructions have one string per relation.
Train has two wordings per instruction, validation and test one each, none shared between splits.
"""

AT_LEAST, LESS_THAN = "at least", "less than"


def _rel(at_least: str, less_than: str) -> dict[str, str]:
    return {AT_LEAST: at_least, LESS_THAN: less_than}


PHRASINGS: dict[str, dict[str, list]] = {
    "keywords:existence": {
        "train": ["Make sure to include the words {kw}.", "Your answer must mention {kw}."],
        "validation": ["Work the words {kw} into your response."],
        "test": ["Be sure the response contains the terms {kw}."],
    },
    "keywords:frequency": {
        "train": [
            _rel('Use the word "{keyword}" at least {frequency} times.',
                 'Use the word "{keyword}" fewer than {frequency} times.'),
            _rel("Your reply needs the word {keyword} at least {frequency} times.",
                 "Keep the word {keyword} to fewer than {frequency} uses in your reply."),
        ],
        "validation": [_rel("Mention {keyword} at least {frequency} times.",
                            "Mention {keyword} fewer than {frequency} times.")],
        "test": [_rel("Repeat the word {keyword} no fewer than {frequency} times.",
                      "Do not write the word {keyword} {frequency} or more times.")],
    },
    "keywords:forbidden_words": {
        "train": ["Do not use the words {fw}.", "Avoid the words {fw} entirely."],
        "validation": ["Never write {fw} anywhere in your answer."],
        "test": ["Steer clear of the words {fw}."],
    },
    "keywords:letter_frequency": {
        "train": [
            _rel("Let the letter {letter} appear {let_frequency} times or more.",
                 "Let the letter {letter} appear fewer than {let_frequency} times."),
            _rel("Include the letter '{letter}' at least {let_frequency} times.",
                 "Use the letter '{letter}' less than {let_frequency} times."),
        ],
        "validation": [_rel("Make the letter {letter} show up at least {let_frequency} times.",
                            "Make the letter {letter} show up fewer than {let_frequency} times.")],
        "test": [_rel("Your text needs at least {let_frequency} occurrences of the letter {letter}.",
                      "Your text must have fewer than {let_frequency} occurrences of the letter {letter}.")],
    },
    "language:response_language": {
        "train": ["Respond only in {lang}.",
                  "Write your entire answer in {lang}."],
        "validation": ["Your whole reply must be written in {lang}."],
        "test": ["Use {lang} and only {lang} for the response."],
    },
    "length_constraints:number_sentences": {
        "train": [
            _rel("Write at least {num_sentences} sentences.", "Use fewer than {num_sentences} sentences."),
            _rel("Make your reply {num_sentences} sentences or longer.",
                 "Make your reply shorter than {num_sentences} sentences."),
        ],
        "validation": [_rel("Answer in no fewer than {num_sentences} sentences.",
                            "Answer in under {num_sentences} sentences.")],
        "test": [_rel("The response needs at least {num_sentences} sentences.",
                      "Keep the response below {num_sentences} sentences.")],
    },
    "length_constraints:number_paragraphs": {
        "train": ["Write exactly {num_paragraphs} paragraphs separated by the markdown divider ***.",
                  "Your answer should have {num_paragraphs} paragraphs with *** between paragraphs."],
        "validation": ["Split the reply into {num_paragraphs} paragraphs and put the divider *** between them."],
        "test": ["Organize the text as {num_paragraphs} paragraphs with a *** line between consecutive paragraphs."],
    },
    "length_constraints:number_words": {
        "train": [
            _rel("Reply using at least {num_words} words.", "Reply using fewer than {num_words} words."),
            _rel("Use at least {num_words} words.", "Keep your answer under {num_words} words."),
        ],
        "validation": [_rel("Write no fewer than {num_words} words.", "Write fewer than {num_words} words.")],
        "test": [_rel("The response should be at least {num_words} words long.",
                      "The response should be shorter than {num_words} words.")],
    },
    "length_constraints:nth_paragraph_first_word": {
        "train": [
            "Write {num_paragraphs} paragraphs separated by blank lines (two new lines). "
            "Paragraph {nth_paragraph} must begin with the word {first_word}.",
            'Your answer needs {num_paragraphs} paragraphs with a blank line between each; paragraph '
            'number {nth_paragraph} starts with the word "{first_word}".',
        ],
        "validation": ["Give {num_paragraphs} paragraphs split by empty lines and open paragraph "
                       "{nth_paragraph} with the word {first_word}."],
        "test": ["Use exactly {num_paragraphs} paragraphs separated by blank lines. The first word of "
                 "paragraph {nth_paragraph} should be {first_word}."],
    },
    "detectable_content:number_placeholders": {
        "train": ["Use at least {num_placeholders} square-bracket placeholders such as [name].",
                  "Leave at least {num_placeholders} placeholders like [location] for details to fill in."],
        "validation": ["Add at least {num_placeholders} bracketed placeholders, for example [date]."],
        "test": ["Put in no fewer than {num_placeholders} placeholders written in square brackets like [company]."],
    },
    "detectable_content:postscript": {
        "train": ["End with a postscript marked {postscript_marker}",
                  "Finish with a postscript that begins with {postscript_marker}"],
        "validation": ["Add a note at the very end that starts with {postscript_marker}"],
        "test": ["Close with a postscript introduced by {postscript_marker}"],
    },
    "detectable_format:number_bullet_lists": {
        "train": ["Include exactly {num_bullets} bullet points using markdown, like:\n* First point\n* Second point",
                  "Format part of the answer as a list of exactly {num_bullets} bullet points, each starting with an asterisk (*)."],
        "validation": ["Use exactly {num_bullets} markdown bullet points (* item)."],
        "test": ["Give exactly {num_bullets} bullets in markdown format such as * this."],
    },
    "detectable_format:constrained_response": {
        "train": ['Reply with exactly one of these: "My answer is yes.", "My answer is no." or "My answer is maybe."',
                  'Choose your answer from "My answer is yes.", "My answer is no." and "My answer is maybe."'],
        "validation": ['Your reply must include one of the phrases "My answer is yes.", "My answer is no.", "My answer is maybe."'],
        "test": ['Pick one response among "My answer is yes.", "My answer is no." and "My answer is maybe."'],
    },
    "detectable_format:number_highlighted_sections": {
        "train": ["Highlight {num_highlights} or more sections with markdown asterisks, like *a highlighted part*.",
                  "Emphasize at least {num_highlights} parts of your answer using markdown like *this part*."],
        "validation": ["Mark at least {num_highlights} phrases as highlighted with single asterisks, e.g. *important*."],
        "test": ["Use markdown to highlight no fewer than {num_highlights} sections, for example *key idea*."],
    },
    "detectable_format:multiple_sections": {
        "train": ["Split your response into {num_sections} sections and start each one with {section_spliter} X "
                  "(for example {section_spliter} 1).",
                  "Divide the answer into {num_sections} sections labelled {section_spliter} 1, "
                  "{section_spliter} 2 and so on."],
        "validation": ["Organize the reply into {num_sections} parts, each starting with {section_spliter} "
                       "followed by its number."],
        "test": ['Structure your answer as {num_sections} sections; begin each with "{section_spliter} N" '
                 "where N is the section number."],
    },
    "detectable_format:json_format": {
        "train": ["Give the full output as JSON.",
                  "Return the whole answer as valid JSON; you may use markdown code fences."],
        "validation": ["Format the complete response as a JSON object."],
        "test": ["Provide your entire reply in JSON."],
    },
    "detectable_format:title": {
        "train": ["Put a title at the top, wrapped in double angular brackets like <<my title>>.",
                  "Include a title in double angle brackets like <<a day out>>."],
        "validation": ["Start with a title inside double angular brackets, e.g. <<the title>>."],
        "test": ["Add a title enclosed in double angle brackets, for example <<an example title>>."],
    },
    "combination:two_responses": {
        "train": ["Write two different answers and put six asterisks (******) between them.",
                  "Provide two distinct answers and separate them with ******."],
        "validation": ["Write two different versions separated only by ******."],
        "test": ["Offer two alternative responses with a line of six asterisks (******) between them."],
    },
    "combination:repeat_prompt": {
        "train": ["Repeat the request above word for word before you answer it (nothing may come before the "
                  "repeated request, and this sentence is not part of the request).",
                  "Before answering copy the request above exactly as written and then respond. "
                  "Do not include this sentence in the copy."],
        "validation": ["Begin by restating the request verbatim (excluding this sentence) and then answer it."],
        "test": ["Start your reply by repeating the request word for word (leave out this sentence) and then answer."],
    },
    "startend:end_checker": {
        "train": ['Your final words must be exactly "{end_phrase}" with nothing following.',
                  'End your answer with the exact phrase "{end_phrase}" and nothing after it.'],
        "validation": ['Conclude with exactly "{end_phrase}" as the final words.'],
        "test": ['The very last words of your reply must be "{end_phrase}"'],
    },
    "change_case:capital_word_frequency": {
        "train": [
            _rel("Use words in ALL CAPITAL letters at least {capital_frequency} times.",
                 "Use words in all capital letters fewer than {capital_frequency} times."),
            _rel("Put at least {capital_frequency} fully capitalized words in your reply.",
                 "Put fewer than {capital_frequency} fully capitalized words in your reply."),
        ],
        "validation": [_rel("Include at least {capital_frequency} words written entirely in capitals.",
                            "Include fewer than {capital_frequency} words written entirely in capitals.")],
        "test": [_rel("Write at least {capital_frequency} words in all caps.",
                      "Write fewer than {capital_frequency} words in all caps.")],
    },
    "change_case:english_capital": {
        "train": ["Make the whole response English and fully uppercase.",
                  "Write everything in English using only CAPITAL LETTERS."],
        "validation": ["Reply in English, in uppercase letters only."],
        "test": ["Answer in English with every letter capitalized."],
    },
    "change_case:english_lowercase": {
        "train": ["Keep the whole reply in English with lowercase letters only; capitals are not allowed.",
                  "Write the whole answer in English using only lowercase letters."],
        "validation": ["Respond in English, all in lowercase, with no capital letters at all."],
        "test": ["Keep your entire English reply in lowercase letters."],
    },
    "punctuation:no_comma": {
        "train": ["Do not use any commas in your response.", "Avoid commas entirely."],
        "validation": ["Your reply must not contain a single comma."],
        "test": ["Refrain from using commas anywhere."],
    },
    "startend:quotation": {
        "train": ["Place your full response between double quotation marks.", "Put the whole answer inside double quotes."],
        "validation": ["Enclose the full reply in double quotation marks."],
        "test": ["Surround everything you write with double quotes."],
    },
}


def quoted_list(words: list[str]) -> str:
    """'a', 'b' and 'c' (how keyword lists are shown in prompts)."""
    items = [f"'{w}'" for w in words]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render_phrasing(phrasing, kwargs: dict, language_names: dict[str, str]) -> str:
    """Fill one phrasing (a string, or a per-relation dict) with an instruction's kwargs."""
    relation = kwargs.get("relation") or kwargs.get("let_relation") or kwargs.get("capital_relation")
    text = phrasing[relation] if isinstance(phrasing, dict) else phrasing
    extra = {}
    if "keywords" in kwargs:
        extra["kw"] = quoted_list(kwargs["keywords"])
    if "forbidden_words" in kwargs:
        extra["fw"] = quoted_list(kwargs["forbidden_words"])
    if "language" in kwargs:
        extra["lang"] = language_names[kwargs["language"]]
    return text.format(**kwargs, **extra)
