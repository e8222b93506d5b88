"""English sentence pools the responder builds completions from (written for this project).

Sentences avoid the standalone word "I", digits, and lines starting with "*" or "-", which
IFEval checkers would count as capital words, sections or bullets.
"""

OPENERS: dict[str, list[str]] = {
    "story": ["Once upon a time a young traveller stumbled upon {topic}.",
              "On a quiet morning Mira decided to learn everything about {topic}.",
              "The old neighbour smiled and began to talk about {topic}."],
    "letter": ["Hello and thank you for reading this note about {topic}.",
               "This message is a quick word about {topic}.",
               "Here is a short update on {topic}."],
    "explain": ["The idea behind {topic} is easier to understand than it first seems.",
                "At its heart {topic} is about paying attention.",
                "Let us look at what makes {topic} work."],
    "article": ["Welcome to a friendly introduction to {topic}.",
                "The world of {topic} has quietly won many hearts over the years.",
                "There has never been a better moment to discover {topic}."],
    "advice": ["The best first step with {topic} is a modest one.",
               "Anyone can make progress with {topic} by going slowly.",
               "Start with {topic} by setting one clear goal."],
    "poem": ["Soft as the dawn we sing of {topic}.",
             "Here is a little verse in honour of {topic}.",
             "Let the words drift gently toward {topic}."],
    "speech": ["Thank you all for being here to talk about {topic}.",
               "Today we turn our attention to {topic}.",
               "Let us spend a few minutes on {topic}."],
    "review": ["This was a thoughtful and well paced look at {topic}.",
               "Overall the session on {topic} was a pleasant surprise.",
               "The hosts clearly cared about {topic}."],
    "guide": ["Here is a clear path into {topic}.",
              "These notes cover the essentials of {topic}.",
              "Use this outline to find your way around {topic}."],
    "essay": ["The subject of {topic} deserves more attention than it usually gets.",
              "Few subjects reward a closer look as much as {topic}.",
              "The case for {topic} is stronger than many assume."],
}

BODY = [
    "A shared interest in {topic} brings people together in surprising ways.",
    "Many people discover {topic} by accident and then stay with it for years.",
    "The best way to understand {topic} is to try it with patience.",
    "Small details matter a great deal when it comes to {topic}.",
    "Some of the oldest stories we know touch on {topic}.",
    "Learning about {topic} teaches careful observation.",
    "Friends often swap tips about {topic} over a cup of tea.",
    "Beginners can start with {topic} using simple tools.",
    "With {topic} curiosity matters more than speed.",
    "There is always something fresh to notice about {topic}.",
    "Local clubs make {topic} easy to explore together.",
    "A good teacher can make {topic} feel welcoming.",
    "The history of {topic} is full of clever ideas.",
    "Those who love {topic} tend to talk about it with real warmth.",
    "Even a short afternoon spent on {topic} can feel refreshing.",
    "At first glance {topic} can seem plain, yet there is a lot of depth.",
    "Books and videos about {topic} are easy to find at the library.",
    "Children and adults alike can enjoy {topic}.",
    "Each season adds a different flavour to {topic}.",
    "Taking notes helps a lot when studying {topic}.",
    "Mistakes are part of the charm of {topic}.",
    "Sharing {topic} with others doubles the joy.",
    "Experts still debate the finer points of {topic}.",
    "A calm mind helps anyone get more out of {topic}.",
    "Good questions lead to a deeper view of {topic}.",
    "Nobody needs to be an expert to appreciate {topic}.",
    "Over the years the world of {topic} has changed in quiet but important ways.",
    "A little planning goes a long way with {topic}.",
    "Talking with a neighbour is a lovely way into {topic}.",
    "In short, it pays to give {topic} some attention.",
]

BULLETS = [
    "Start small with {topic}.", "Ask an experienced friend for tips.",
    "Keep a notebook of what you notice.", "Set aside a little time each week.",
    "Share what you learn with others.", "Visit a local group or club.",
    "Read one good book on the subject.", "Be patient with your progress.",
    "Celebrate each step forward.", "Look for free classes nearby.",
]

TITLES = ["Notes on {Title}", "A Closer Look at {Title}", "The Joy of {Title}", "Thinking About {Title}",
          "All About {Title}", "A Short Guide to {Title}"]

POSTSCRIPTS = ["Feel free to pass this on to a friend.", "More ideas are on the way.",
               "Thanks for taking the time to read this.", "Write back whenever you like."]

KEYWORD_CARRIERS = ["The {k} keeps coming back to mind.", "Think of the {k} when you picture {topic}.",
                    "Every {k} tells part of the story.", "The {k} makes a fine symbol for this.",
                    "Even a plain {k} can spark an idea.", "Nobody forgets the {k} once they see it."]

EXISTENCE_CARRIERS = ["It also brings to mind {ks}.", "Along the way you might think of {ks}.",
                      "The picture would not be complete without {ks}."]

PLACEHOLDER_CARRIERS = ["You can fill in the details here: {ps}.", "Add your own details: {ps}.",
                        "Remember to note {ps}."]
PLACEHOLDER_NAMES = ["name", "date", "place", "time", "address", "email", "city", "phone number"]

CAPS_CARRIERS = ["Remember these words: {ws}.", "Keep it {ws}."]
CAPS_WORDS = ["CALM", "BOLD", "CLEAR", "BRIGHT", "STEADY", "KIND", "OPEN", "FRESH", "WARM",
              "STRONG", "QUICK", "WISE", "GENTLE", "HONEST"]

LETTER_CARRIER = "Some playful words to add: {ws}."
LETTER_WORDS = {
    "a": ["banana", "papaya", "alpaca"], "b": ["bubble", "baby", "bobbin"],
    "c": ["circus", "cactus", "cocoa"], "d": ["daddy", "dandelion", "paddled"],
    "e": ["evergreen", "eleven", "freedom"], "f": ["fluffy", "coffee", "fifty"],
    "g": ["giggle", "luggage", "eggnog"], "h": ["hitchhike", "hush", "health"],
    "i": ["bikini", "mini", "igloo"], "j": ["jujube", "jazz", "juggle"],
    "k": ["kayak", "knick", "kick"], "l": ["lollipop", "llama", "lily"],
    "m": ["mammoth", "momentum", "summer"], "n": ["nanny", "nonstop", "banner"],
    "o": ["potato", "tomato", "cocoon"], "p": ["pepper", "puppy", "pipe"],
    "q": ["quick", "quiet", "quiz"], "r": ["mirror", "error", "rural"],
    "s": ["success", "seesaw", "glasses"], "t": ["tattoo", "trumpet", "attic"],
    "u": ["ukulele", "tutu", "umbrella"], "v": ["velvet", "vivid", "valve"],
    "w": ["window", "willow", "wow"], "x": ["xylophone", "box", "fox"],
    "y": ["yummy", "yearly", "yellow"], "z": ["pizza", "zigzag", "fuzzy"],
}

REASONS = {
    "My answer is yes.": ["Most who give {topic} a fair try find it rewarding.",
                          "Getting into {topic} offers plenty of value for very little effort."],
    "My answer is no.": ["Getting into {topic} takes more time and effort than many expect.",
                         "Getting into {topic} is not the best fit for everyone."],
    "My answer is maybe.": ["It depends on how much time and interest you bring to {topic}.",
                            "Getting into {topic} suits some situations but not all of them."],
}
