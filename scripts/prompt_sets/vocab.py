"""Topics and base templates, one disjoint pool per split, plus the value pools for kwargs.

Splits share no template and no topic (tests check it), so a held-out score measures
generalisation to unseen task wording and subject matter, not memory. Kwarg value pools
(keywords, end phrases...) are shared: they are the instruction's parameters, not the task.
"""

SPLITS = ("train", "validation", "test")

# (template, kind): kind picks the responder's opening sentences.
TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "train": [
        ("Write a short story about {topic}.", "story"),
        ("Draft an email to a colleague about {topic}.", "letter"),
        ("Explain {topic} to a ten-year-old.", "explain"),
        ("Write a blog post introducing {topic}.", "article"),
        ("Give me some practical advice on {topic}.", "advice"),
        ("Compose a poem about {topic}.", "poem"),
        ("Write a diary entry about a day spent on {topic}.", "story"),
        ("Summarize what a beginner should know about {topic}.", "explain"),
        ("Write a letter to the editor of a local newspaper about {topic}.", "letter"),
        ("Prepare talking points for a short speech on {topic}.", "speech"),
        ("Describe a typical day for someone whose job involves {topic}.", "story"),
        ("Write a review of a weekend workshop on {topic}.", "review"),
        ("Create a study guide on {topic}.", "guide"),
        ("Write an advertisement for an evening class about {topic}.", "article"),
        ("Write a friendly text message inviting a neighbour to learn about {topic}.", "letter"),
        ("Tell me why {topic} matters.", "explain"),
        ("Write the opening of a podcast episode about {topic}.", "speech"),
        ("Write a short essay on {topic}.", "essay"),
        ("Pitch {topic} as the theme for a school fair.", "essay"),
        ("Write a note to your future self about {topic}.", "letter"),
        ("List the main ideas behind {topic}.", "guide"),
        ("Write a wiki-style overview of {topic}.", "article"),
        ("Write a motivational message for someone starting out with {topic}.", "advice"),
        ("Draft a newsletter section about {topic}.", "article"),
        ("Write a fictional interview with an expert on {topic}.", "story"),
        ("Give a step-by-step plan for exploring {topic} this weekend.", "guide"),
        ("Write a social media post celebrating {topic}.", "letter"),
        ("Describe the past and the future of {topic}.", "explain"),
        ("Write a thank-you card to a mentor who taught you about {topic}.", "letter"),
        ("Write a radio weather-style report, but about {topic}.", "speech"),
    ],
    "validation": [
        ("Write a fairy tale involving {topic}.", "story"),
        ("Compose a memo to your team regarding {topic}.", "letter"),
        ("Describe {topic} as if to a visitor from another planet.", "explain"),
        ("Write a playful rhyme about {topic}.", "poem"),
        ("Offer tips to a friend who is curious about {topic}.", "advice"),
        ("Write the text of a museum placard about {topic}.", "article"),
        ("Write a toast for a dinner party themed around {topic}.", "speech"),
        ("Write a critique of a documentary about {topic}.", "review"),
        ("Outline a lesson plan on {topic}.", "guide"),
        ("Write a postcard home from a trip devoted to {topic}.", "letter"),
    ],
    "test": [
        ("Write a bedtime story that features {topic}.", "story"),
        ("Draft a formal letter to the city council about {topic}.", "letter"),
        ("Explain the basics of {topic} to a new coworker.", "explain"),
        ("Write a song chorus about {topic}.", "poem"),
        ("Write a persuasive piece encouraging people to try {topic}.", "essay"),
        ("Write a travel guide entry about {topic}.", "article"),
        ("Give a pep talk about {topic} to a sports team.", "speech"),
        ("Write a customer review of a book on {topic}.", "review"),
        ("Create a checklist for someone getting into {topic}.", "guide"),
        ("Write a chat message to your sibling about {topic}.", "letter"),
        ("Describe {topic} from the point of view of a curious cat.", "story"),
        ("Write a press release announcing a festival of {topic}.", "article"),
        ("Write an encyclopedia entry on {topic}.", "explain"),
        ("Write a reflective journal entry about {topic}.", "story"),
    ],
}

# Yes/no questions: the only sensible base for "answer with one of My answer is yes/no/maybe".
QUESTION_TEMPLATES: dict[str, list[str]] = {
    "train": [
        "Is {topic} worth learning about?",
        "Would you recommend {topic} to a busy parent?",
        "Can {topic} be enjoyed on a small budget?",
        "Is {topic} a good subject for a school project?",
        "Should a complete beginner start with {topic}?",
        "Is {topic} more popular today than it was ten years ago?",
    ],
    "validation": [
        "Could {topic} make a good weekend hobby?",
        "Is {topic} hard to explain to children?",
    ],
    "test": [
        "Would {topic} be a good thing to chat about at dinner?",
        "Is {topic} easy to get started with?",
        "Do you think {topic} will still matter in twenty years?",
    ],
}

TOPICS: dict[str, list[str]] = {
    "train": [
        "urban beekeeping", "sourdough baking", "tide pools", "the northern lights",
        "community gardens", "chess openings", "lighthouse keeping", "origami",
        "bicycle commuting", "rainwater harvesting", "amateur astronomy", "jazz improvisation",
        "public libraries", "composting", "birdwatching", "pottery", "the Roman aqueducts",
        "volcanoes", "solar panels", "marathon training", "board game design", "coral reefs",
        "the printing press", "indoor plants", "street food", "recycling plastics",
        "sign language", "kite flying", "mountain huts", "paper making", "the water cycle",
        "mushroom foraging", "film photography", "rock climbing", "tea ceremonies", "sled dogs",
        "desert plants", "electric cars", "hot air balloons", "typewriters", "night markets",
        "wind turbines", "glaciers", "public transit", "vinyl records", "knitting", "penguins",
        "space telescopes", "folk dancing", "home budgeting", "clock making", "beach cleanups",
        "thunderstorms", "bonsai trees", "city parks", "ancient libraries", "railway stations",
        "weather balloons", "the metric system", "maple syrup", "snow shelters",
        "fountain pens", "puppet theatre", "deep sea fish", "suspension bridges",
        "spice markets", "cave paintings", "river canoeing", "wildflower meadows",
        "chocolate making", "calligraphy", "time zones", "robot vacuums", "sand dunes",
        "handwritten letters", "farmers markets", "whale songs", "lunar eclipses",
        "carpentry", "camping stoves", "wood-fired ovens", "the Silk Road", "sea turtles",
        "long train journeys", "meditation", "quilting", "hiking boots", "fireflies",
        "video game music", "map reading", "cheese making", "glassblowing",
        "rooftop gardens", "paper airplanes", "sailing knots", "podcast editing",
        "handmade soap", "tree frogs", "learning a second language", "recipe swapping",
        "bread baking for beginners", "stamp collecting", "ice skating", "urban sketching",
        "beekeeping suits", "river otters", "hand lettering", "bird nests",
    ],
    "validation": [
        "tidal energy", "stained glass", "fossil hunting", "walking tours", "ice sculptures",
        "bamboo forests", "carrier pigeons", "harbor seals", "radio dramas", "pinhole cameras",
        "crossword puzzles", "lantern festivals", "mosaic tiles", "apple orchards",
        "snowflakes", "sundials", "tap dancing", "canal boats", "fermented foods", "old maps",
        "magnets", "jellyfish", "bird migration", "hedgehogs", "cloud types", "embroidery",
        "lemonade stands", "planetariums", "pinball machines", "waterfalls", "subway maps",
        "wool spinning", "sea glass", "pen pals", "cactus care",
    ],
    "test": [
        "owls", "windmills", "hot springs", "treehouses", "comets", "the postal service",
        "rainforests", "ferry rides", "piano lessons", "sea caves", "bookbinding", "kayaking",
        "alpine lakes", "honey tasting", "dinosaur skeletons", "street musicians",
        "pumpkin patches", "snorkeling", "woodcarving", "candle making", "weather forecasting",
        "sandcastles", "wolves", "vegetable soup", "picnics", "geysers", "yoga", "aquariums",
        "poetry slams", "sunflowers", "beavers", "marbles", "harvest festivals",
        "cooking with herbs", "snow days", "airships", "rowing", "music boxes",
        "bird feeders", "coffee roasting", "the moon landing", "tiny houses", "model trains",
        "scarecrows", "volunteer firefighters", "science fairs", "frost", "zookeeping",
        "trail running", "greenhouses", "bowling", "lemon trees", "skateboarding",
        "jam making", "houseboats",
    ],
}

# Words for keywords:existence / keywords:frequency. Plain lowercase letters only: lm-eval
# uses them as regular expressions.
KEYWORDS = [
    "lantern", "harbor", "compass", "meadow", "ribbon", "pebble", "violin", "blanket",
    "whistle", "feather", "saddle", "canyon", "orchard", "puzzle", "anchor", "biscuit",
    "candle", "mirror", "ladder", "basket", "thunder", "velvet", "marble", "cottage",
    "tunnel", "pepper", "falcon", "meteor", "zipper", "walnut", "quartz", "jigsaw",
]

# Words the responder's own sentences often use, so forbidding them is a real constraint.
FORBIDDEN_POOL = [
    "people", "simple", "history", "friends", "patience", "details", "learning", "curiosity",
    "season", "teacher", "books", "together", "really", "very", "great", "new", "time",
    "world", "easy", "fun", "small", "good",
]

FIRST_WORDS = [
    "today", "moreover", "finally", "imagine", "remember", "honestly", "meanwhile", "still",
    "luckily", "next", "besides", "overall", "sometimes", "yesterday", "surprisingly", "first",
]

END_PHRASES = [
    "Is there anything more you would like to know?", "Let me know if you have other questions.",
    "Thanks for reading.", "That is all for today.", "Hope this helps!", "See you next time.",
    "Any further questions?", "Happy exploring!", "Until next time.", "Have a lovely day.",
]

# Languages whose sentences we wrote ourselves (responder/languages.py); names as lm-eval has them.
LANGUAGES = {"es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German", "it": "Italian"}

POSTSCRIPT_MARKERS = ["P.S.", "P.P.S"]
SECTION_SPLITTERS = ["Section", "SECTION", "Part"]
COMMON_LETTERS = list("etaoinsrhldcumwfgpyb")
RARE_LETTERS = list("jqxz")
