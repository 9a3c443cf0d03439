"""Words the synthetic speech set says that are not commands: the `_unknown_` pool.

`_unknown_` must mean "another word", not "another voice", so every generated speaker
says commands *and* a draw of these, from the same voice, through the same
transformations. The pool holds the 20 Speech Commands auxiliary words, near-misses of
the commands (words that share most of their sounds), common short English words, and
short phrases; none contains a command word.
"""

from __future__ import annotations

SPEECH_COMMANDS_AUX = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
)  # fmt: skip
"""The Speech Commands auxiliary words (v1 and v2)."""

NEAR_MISSES = (
    # yes
    "yet", "yeah", "yell", "guess", "chess", "less", "mess", "yesterday", "yellow",
    # no ("know" sounds the same: a homophone is the command, see HOMOPHONES)
    "now", "note", "snow", "nose", "new", "nope", "noon", "gnaw",
    # up
    "cup", "pup", "hope", "uh", "upper", "ape", "op", "sup", "hub",
    # down
    "dawn", "town", "don", "gown", "brown", "crown", "noun", "downy", "done",
    # left
    "lift", "loft", "laughed", "theft", "lend", "lent", "leaf", "deft",
    # right ("write", "wright": homophones)
    "ride", "light", "bright", "white", "night", "kite", "rice",
    # on
    "of", "an", "in", "own", "awn", "gone", "john", "one on",
    # off
    "oft", "cough", "scoff", "often", "offer", "awful", "ah",
    # stop
    "stock", "top", "shop", "step", "stoop", "stomp", "spot", "stab", "drop",
    # go
    "goat", "going", "gold", "grow", "though", "toe", "low", "show", "bow",
)  # fmt: skip
"""Words close to a command in sound (grouped by the command they resemble)."""

COMMON = (
    "the", "and", "you", "that", "was", "for", "are", "with", "his", "they", "this",
    "have", "from", "word", "but", "what", "some", "we", "can", "out", "other", "were",
    "all", "there", "when", "use", "your", "how", "said", "each", "she", "which", "their",
    "time", "will", "way", "about", "many", "then", "them", "would", "like", "so", "these",
    "her", "long", "make", "thing", "see", "him", "has", "look", "more", "day", "could",
    "come", "did", "number", "sound", "most", "people", "water", "call", "who", "may",
    "find", "first", "side", "been", "back", "give", "name", "very", "just", "form",
    "great", "help", "line", "turn", "cause", "much", "mean", "before", "move", "boy",
    "old", "too", "same", "tell", "does", "set", "three", "want", "air", "well", "also",
    "play", "small", "end", "put", "home", "read", "hand", "port", "large", "spell", "add",
    "even", "land", "here", "must", "big", "high", "such", "follow", "act", "why", "ask",
    "men", "change", "went", "kind", "need", "picture", "try", "again", "animal", "point",
    "mother", "world", "near", "build", "self", "earth", "father", "head", "stand", "page",
    "should", "country", "found", "answer", "school", "study", "learn", "plant", "cover",
    "food", "sun", "city", "eye", "never", "last", "let", "thought", "open", "seem",
    "together", "next", "begin", "paper", "music", "those", "both", "mark", "book",
    "letter", "until", "mile", "river", "car", "feet", "care", "second", "group", "carry",
    "took", "rain", "eat", "room", "friend", "idea", "fish", "mountain", "north", "once",
    "base", "hear", "horse", "cut", "sure", "watch", "color", "face", "wood", "main",
    "enough", "plain", "girl", "usual", "young", "ready", "above", "ever", "red", "list",
    "feel", "talk", "soon", "body", "family", "direct", "pose", "leave", "song",
    "measure", "door", "product", "black", "short", "numeral", "class", "wind", "question",
    "happen", "complete", "ship", "area", "half", "rock", "order", "fire", "south",
    "problem", "piece", "told", "pass", "since", "whole", "king", "space", "heard", "best",
    "hour", "better", "true", "during", "hundred", "remember", "early", "hold", "west",
    "ground", "interest", "reach", "fast", "verb", "sing", "listen", "table", "travel",
    "less", "morning", "simple", "several", "vowel", "toward", "war", "lay", "against",
    "pattern", "slow", "center", "love", "person", "money", "serve", "appear", "road",
    "map", "science", "rule", "govern", "pull", "cold", "notice", "voice", "fall", "power",
    "town", "fine", "certain", "fly", "unit", "lead", "cry", "dark", "machine", "wait",
    "plan", "figure", "star", "box", "field", "rest", "correct", "able", "pound", "beauty",
    "drive", "stood", "contain", "front", "teach", "week", "final", "gave", "green", "quick",
    "develop", "sleep", "warm", "free", "minute", "strong", "special", "mind", "behind",
    "clear", "tail", "produce", "fact", "street", "inch", "lot", "nothing", "course", "stay",
    "wheel", "full", "force", "blue", "object", "decide", "surface", "deep", "moon",
    "island", "foot", "yet", "busy", "test", "record", "boat", "common", "possible",
    "plane", "age", "dry", "wonder", "laugh", "thousand", "ago", "ran", "check", "game",
    "shape", "hot", "miss", "brought", "heat", "hair", "bring", "fill", "east", "paint",
    "language", "among", "lights", "pause", "volume", "next one", "play music",
)  # fmt: skip
"""Common short English words (and a few app words: lights, pause, volume)."""

PHRASES = (
    "thank you", "excuse me", "good morning", "hello there", "how are you", "see you",
    "not now", "come here", "what time", "bless you", "all right then", "oh dear",
    "hang on", "let me see", "never mind", "okay", "hello", "hey", "hi there", "um",
)  # fmt: skip
"""Short phrases and fillers, each under about a second when spoken."""

HOMOPHONES = ("know", "write", "wright", "rite", "knot")
"""Words that sound exactly like a command (eSpeak NG gives them the command's phonemes in
en-us, en-gb-x-rp and en): a single spoken word cannot tell them apart, so they are never
`_unknown_`. tests/test_speech_transform.py checks the pool against eSpeak's phonemes."""


def unknown_pool(commands: tuple[str, ...]) -> tuple[str, ...]:
    """Every pool entry with no command word in it, deduplicated, in a fixed order."""
    banned = set(commands) | set(HOMOPHONES)
    out: dict[str, None] = {}
    for text in SPEECH_COMMANDS_AUX + NEAR_MISSES + COMMON + PHRASES:
        if not banned & set(text.split()):
            out.setdefault(text, None)
    return tuple(out)
