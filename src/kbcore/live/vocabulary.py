"""Word lists for spoken English: what callers say that carries no question."""

from __future__ import annotations

#: PostgreSQL's ``english`` stop words (``english.stop``, the same in every release
#: kbcore supports): dropped here too, so that the number of terms is what the SQL sees.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will
    just don should now
    """.split()
)

#: Words that fill speech: hesitations, greetings, hedges, and the verbs of asking.
FILLER_WORDS = frozenset(
    """
    uh um umm uhm er erm ah hmm mm mhm oh okay ok yeah yep yes yup hi hello hey well so
    like actually basically literally really honestly totally kinda sorta gonna wanna gotta
    guys folks y'all please thanks thank alright anyway anyways just maybe sure right wait
    also still even quick question wondering wonder curious tell know want wanted need
    would could might must shall get got go going thing things stuff somebody someone
    something anything everything lot lots bit little us make made take put give see
    happen happens work use using
    doesn isn aren wasn weren didn won wouldn couldn shouldn haven hasn hadn ain ca wo
    """.split()
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
        """.split()
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
