"""Word lists for spoken English: what callers say that carries no question."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: PostgreSQL's ``english`` stop words (``english.stop``, the same in every release
#: kbcore supports): dropped here too, so that the number of terms is what the SQL sees.
STOP_WORDS = _words(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now
    """
)

#: Words that fill speech: hesitations, greetings, hedges, and the verbs of asking.
FILLER_WORDS = _words(
    """
    uh um umm uhm er erm ah hmm mm mhm oh okay ok yeah yep yes yup hi hello hey well so
    like actually basically literally really honestly totally kinda sorta gonna wanna gotta
    guys folks y'all please thanks thank alright anyway anyways just maybe sure right wait
    also still even quick question wondering wonder curious tell know want wanted need
    would could might must shall get got go going thing things stuff somebody someone
    something anything everything lot lots bit little us make made take put give see
    happen happens work use using
    doesn isn aren wasn weren didn won wouldn couldn shouldn haven hasn hadn ain ca wo
    """
)

#: Phrases that fill speech as a whole ("you know"), matched before single words.
FILLER_PHRASES = frozenset(
    {
        "you guys",
        "you know",
        "i mean",
        "i guess",
        "i think",
        "kind of",
        "sort of",
        "by the way",
        "let me",
        "i was",
        "is there",
        "do you",
        "can you",
        "can i",
        "and all that",
        "all that",
        "or anything",
        "or something",
    }
)

#: Spoken numbers and the digits documents write them with.
NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        """
        zero one two three four five six seven eight nine ten eleven twelve thirteen
        fourteen fifteen sixteen seventeen eighteen nineteen twenty
        """.split()  # noqa: SIM905 (a word list reads best as words)
    )
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
}

#: Everyday words of callers for what business documents name otherwise: prices,
#: refunds, cancelling, trials, people, support, payment, devices. Generic on purpose;
#: a host adds its own domain's words with ``Synonyms.extended``.
COMMON_SYNONYMS: dict[str, tuple[str, ...]] = {
    # price
    "how much": ("price", "cost"),
    "cost": ("price",),
    "costs": ("price",),
    "cheap": ("price",),
    "cheaper": ("price", "discount"),
    "cheapest": ("price",),
    "expensive": ("price", "cost"),
    "pricey": ("price",),
    "afford": ("price",),
    "fee": ("price", "charge"),
    "fees": ("price", "charge"),
    "deal": ("discount", "promotion"),
    "coupon": ("discount", "promotion"),
    "promo": ("promotion", "discount"),
    # money back, leaving
    "money back": ("refund",),
    "reimburse": ("refund",),
    "get out of": ("cancel",),
    "get out": ("cancel",),
    "quit": ("cancel",),
    "terminate": ("cancel",),
    "stop paying": ("cancel",),
    "lock in": ("contract", "commitment"),
    "locked in": ("contract", "commitment"),
    "agreement": ("contract",),
    "lawyers": ("legal",),
    "lawyer": ("legal",),
    # trying
    "try": ("trial",),
    "try out": ("trial",),
    "test drive": ("trial",),
    # people
    "person": ("user",),
    "people": ("users",),
    "login": ("user", "seat"),
    "logins": ("users", "seats"),
    "staff": ("users", "team"),
    "employees": ("users", "team"),
    "agents": ("users", "reps"),
    "boss": ("manager",),
    "supervisor": ("manager",),
    "real person": ("human",),
    "human": ("person",),
    "bot": ("ai", "assistant"),
    "robot": ("ai", "assistant"),
    # getting started, getting help
    "set up": ("setup", "onboarding"),
    "get started": ("setup", "onboarding"),
    "walk through": ("onboarding", "training"),
    "install": ("setup",),
    "help": ("support",),
    "reach somebody": ("support",),
    "talk to someone": ("support",),
    "customer service": ("support",),
    "saturday": ("weekend", "weekends"),
    "sunday": ("weekend", "weekends"),
    "night": ("24/7", "hours"),
    "christmas": ("holidays",),
    "open": ("hours",),
    "located": ("based", "offices", "headquarters"),
    "based": ("offices", "headquarters"),
    "goes down": ("outage", "downtime", "uptime"),
    "go down": ("outage", "downtime", "uptime"),
    "outage": ("downtime", "uptime"),
    "breaks": ("outage",),
    "broken": ("outage",),
    # paying
    "pay": ("payment", "billing"),
    "paying": ("payment", "billing"),
    "amex": ("american express",),
    "check": ("cheque",),
    "wire": ("transfer",),
    "declined": ("failed",),
    "bounced": ("failed",),
    "receipt": ("invoice",),
    # devices, places
    "mac": ("macos",),
    "macbook": ("macos",),
    "iphone": ("ios",),
    "pc": ("windows", "desktop"),
    "laptop": ("desktop", "computer"),
    "europe": ("eu",),
    "european": ("eu",),
    "text": ("sms",),
    "texts": ("sms",),
    "texting": ("sms",),
}
