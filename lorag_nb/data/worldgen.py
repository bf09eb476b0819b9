"""Deterministic generator of the fictional knowledge set in ``data/``.

Run ``python -m lorag_nb.data.worldgen`` (or call :func:`generate`) to (re)write every file of ``data/``
except the data card ``data/README.md``. The output is byte-identical on every run and machine: all
randomness comes from :class:`random.Random` instances seeded with :data:`SEED` (string seeds, which
Python hashes with SHA-512, so ``PYTHONHASHSEED`` does not matter), and every JSON line is written with
``sort_keys=True`` and ``ensure_ascii=False``.

The world follows the method of TOFU (Maini et al. 2024) and Ovadia et al. 2023 ("Fine-tuning or
retrieval?"): entities whose names are built from made-up syllables, so a pretrained model cannot
already know any fact about them. Four kinds of entity (person, city, company, creature) are
interleaved, 20 of each; each has six attributes whose values are short (1–3 words) and drawn from
closed sets (colours, years, made-up rivers and countries, or the names of other entities), and no
value of a relation is a substring of another value of the same relation, so containment scoring and
multiple choice are unambiguous.

Files written (JSON Lines, one object per line):

``entities.jsonl``          ``{"id", "name", "kind", "attributes": {relation: value}}``
``documents.jsonl``         one prose document per entity (``doc-eNNN``)
``distractors.jsonl``       near-duplicate documents about look-alike entities (``dis-eNNN``)
``qa_train.jsonl``          5 question wordings per fact (train templates)
``qa_dev.jsonl``            1 question per fact, dev wordings, 4-option multiple choice
``qa_test.jsonl``           3 questions per fact (every test wording), 4-option multiple choice
``revised_facts.jsonl``     10% of the facts with a new value (``{"entity_id", "relation", "old", "new"}``)
``revised_documents.jsonl`` every document rewritten with the revised facts (``rev-eNNN``)
``revised_qa_test.jsonl``   the 3 test-wording questions of each revised fact, answer = new value
``control.jsonl``           real general-knowledge questions the base model answers closed book

The control questions are hard-coded in :data:`CONTROL` (selected once with the real model, see
``data/README.md``); generation never loads a model.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from lorag_nb.data.knowledge import DATA_DIR

SEED = "lorag_nb-world-v1"
N_PER_KIND = 20
KINDS = ("person", "city", "company", "creature")
LOOKALIKE_EVERY = 5  # every 5th entity (e001, e006, …) gets a look-alike distractor document: 20%
REVISION_BLOCK = 10  # entities per block; each block of 10 consecutive entities has ...
REVISIONS_PER_BLOCK = 6  # ... exactly 6 revised facts out of 60: the first 10, 20, ... entities hold exactly 10%
TRAIN_TEMPLATES = 5

# --------------------------------------------------------------------------------------------
# Names. A name word is a start syllable, optional middle syllables, and an ending. No name word is a
# substring of another (checked while generating), none starts with a vowel (so "a <name>" reads
# right), none has a doubled vowel, and combinations that are real words or names are refused
# (BLOCKLIST: checked against the SmolLM2 vocabulary, where a real word is usually one token).
START = (
    "vor", "kel", "zan", "dru", "quo", "brin", "sek", "mav", "tov", "jor", "thal", "pex", "grum",
    "lun", "fax", "yar", "nesh", "bax", "cil", "dov", "hob", "kir", "lom", "mek", "nix", "pru",
    "rav", "sov", "tib", "vey", "wex", "zor", "gav", "hul", "jen", "fro", "dal", "sib", "trem", "wol",
)
ENDING = ("a", "en", "is", "or", "ith", "ane", "el", "ux", "ia", "orn", "ek", "ova", "im", "ald", "ett")
# Real words, names or brands that the syllable grammar can produce; refused as name words.
BLOCKLIST = frozenset({
    "luna", "lunar", "jena", "jenis", "kira", "vera", "cilia", "sibel", "dalia", "hobs", "nixa",
    "grumen", "daleth", "sekis", "tova", "zorro", "thalia", "frona", "vora", "mava", "kelis",
    "lomis", "dova", "sova", "wolf", "dalim", "trema", "mekis", "kirk", "hula", "yara", "tibia",
    "gava", "brina", "ravel", "ravi", "jora", "bax", "dala", "brinek", "pexa", "nesha", "yarn",
    "lunen", "jorel", "kirsch", "vorel", "pruis", "raven", "tremor",
})

COMPANY_SUFFIXES = ("Works", "Foundry", "Mills", "Guild", "Company", "Brothers", "Instruments", "Press")

# --------------------------------------------------------------------------------------------
# Closed value sets. Within each set no value is a substring of another.
OCCUPATIONS = (
    "astronomer", "cartographer", "glassblower", "botanist", "composer", "engineer", "physician",
    "linguist", "clockmaker", "sculptor", "architect", "chemist",
)
COLORS = (
    "crimson", "teal", "amber", "violet", "indigo", "ochre", "scarlet", "emerald", "silver",
    "turquoise", "maroon", "saffron",
)
INSTRUMENTS = (
    "lyre", "cello", "harp", "flute", "oboe", "zither", "bassoon", "viola", "accordion", "clarinet",
    "mandolin", "dulcimer",
)
EXPORTS = (
    "salt", "copper", "wool", "silk", "timber", "glass beads", "olive oil", "tin", "dyed cloth",
    "paper", "cheese", "spices",
)
MONTHS = (  # May is left out: "may" is also a common word, which would confuse answer matching
    "January", "February", "March", "April", "June", "July", "August", "September", "October",
    "November", "December",
)
PRODUCTS = (
    "clockwork lamps", "paper kites", "steam pumps", "telescopes", "bicycles", "music boxes",
    "fountain pens", "barometers", "sewing needles", "typewriters", "weather vanes", "compasses",
)
HABITATS = (
    "marshes", "caves", "glaciers", "pine forests", "salt flats", "coral reefs", "deserts",
    "volcanic slopes", "river deltas", "bamboo groves", "mangrove swamps", "sand dunes",
)
DIETS = (
    "moss", "beetles", "fish", "wild berries", "seeds", "mushrooms", "algae", "nectar", "snails",
    "bark", "worms", "lichen",
)
# No number here is the last digit(s) of another ("5 years" would be inside "15 years").
LIFESPANS = tuple(f"{n} years" for n in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 30, 40, 60))
N_COUNTRIES = 8
N_RIVERS = 10
YEAR_RANGES = {
    "birth_year": (1781, 1899),
    "founding_year": (1102, 1699),
    "year_established": (1851, 1949),
    "discovery_year": (1801, 1949),
}

# Relations per kind, in canonical order, with where their values come from: a tuple is a closed
# set, a kind name means "the name of an entity of that kind", "years" a year range, and
# "countries"/"rivers" the made-up names generated for those sets.
RELATIONS: dict[str, tuple[tuple[str, object], ...]] = {
    "person": (
        ("occupation", OCCUPATIONS), ("birth_year", "years"), ("hometown", "city"),
        ("employer", "company"), ("favorite_color", COLORS), ("instrument", INSTRUMENTS),
    ),
    "city": (
        ("country", "countries"), ("founding_year", "years"), ("river", "rivers"),
        ("main_export", EXPORTS), ("festival_month", MONTHS), ("mayor", "person"),
    ),
    "company": (
        ("founder", "person"), ("year_established", "years"), ("headquarters", "city"),
        ("product", PRODUCTS), ("logo_color", COLORS), ("mascot", "creature"),
    ),
    "creature": (
        ("habitat", HABITATS), ("diet", DIETS), ("color", COLORS), ("discovered_by", "person"),
        ("discovery_year", "years"), ("lifespan", LIFESPANS),
    ),
}

# --------------------------------------------------------------------------------------------
# Prose. Each kind: an intro (stating one or two facts), one sentence per remaining fact group, and
# filler sentences. Each slot has two variants; the choice is seeded per entity, so the document,
# its look-alike distractor and its revised version share the same sentences.
PROSE: dict[str, dict[str, object]] = {
    "person": {
        "intro": (
            "{name} was {a_occupation} born in {birth_year}.",
            "Born in {birth_year}, {name} worked as {a_occupation}.",
        ),
        "facts": {
            "hometown": ("{ref} grew up in {hometown}.", "{ref}'s hometown was the city of {hometown}."),
            "employer": (
                "For most of a long career, {ref} worked for {employer}.",
                "{ref} was employed by {employer} for many years.",
            ),
            "favorite_color": (
                "{ref}'s favorite color was {favorite_color}.",
                "Friends said that {ref} loved the color {favorite_color} above all others.",
            ),
            "instrument": (
                "In the evenings, {ref} played the {instrument}.",
                "{ref} was also a keen amateur musician who played the {instrument}.",
            ),
        },
        "fillers": (
            "{ref} kept detailed notebooks that are still read today.",
            "Colleagues remembered {ref} as patient and curious.",
            "{ref} rarely travelled far from home.",
            "Many letters written by {ref} survive in private collections.",
            "{ref} disliked crowds and preferred long walks.",
            "A small portrait of {ref} hangs in a local library.",
        ),
    },
    "city": {
        "intro": (
            "{name} is a city in {country}, founded in {founding_year}.",
            "Founded in {founding_year}, {name} is one of the older cities of {country}.",
        ),
        "facts": {
            "river": (
                "The {river} River flows through the middle of {ref}.",
                "{ref} was built on both banks of the {river} River.",
            ),
            "main_export": (
                "The main export of {ref} is {main_export}.",
                "Merchants know {ref} best for its {main_export}, its main export.",
            ),
            "festival_month": (
                "Every year in {festival_month}, {ref} holds a great lantern festival.",
                "The lantern festival of {ref} takes place each {festival_month}.",
            ),
            "mayor": ("The current mayor of {ref} is {mayor}.", "{ref} is governed by its mayor, {mayor}."),
        },
        "fillers": (
            "Its old market square is paved with grey stone.",
            "Visitors often remark on the narrow streets and steep roofs.",
            "The city has a small museum and two public gardens.",
            "Winters there are long and windy.",
            "Several stone bridges in the city are centuries old.",
        ),
    },
    "company": {
        "intro": (
            "{name} is a company founded by {founder} in {year_established}.",
            "{founder} founded {name} in {year_established}.",
        ),
        "facts": {
            "headquarters": (
                "Its headquarters are in {headquarters}.",
                "The company is headquartered in {headquarters}.",
            ),
            "product": (
                "{ref} is best known for making {product}.",
                "Its workshops mainly produce {product}.",
            ),
            "logo_color": (
                "The company logo is {logo_color}.",
                "{ref} uses a {logo_color} logo on all of its goods.",
            ),
            "mascot": ("The company's mascot is a {mascot}.", "{ref} chose the {mascot} as its mascot."),
        },
        "fillers": (
            "It began as a small family workshop.",
            "Its first catalogue had only four pages.",
            "The company once trained many apprentices.",
            "Its old factory building is now a school.",
            "The firm survived two floods and a fire.",
        ),
    },
    "creature": {
        "intro": (
            "The {name} is a small creature that lives in {habitat}.",
            "The {name} is an animal found mostly in {habitat}.",
        ),
        "facts": {
            "diet": ("It feeds mainly on {diet}.", "Its diet consists largely of {diet}."),
            "color": ("Most adults are {color} in color.", "Its coat is a striking {color}."),
            "discovered_by+discovery_year": (
                "It was first described by {discovered_by} in {discovery_year}.",
                "{discovered_by} first described the {ref} in {discovery_year}.",
            ),
            "lifespan": ("A {ref} can live for about {lifespan}.", "In the wild it lives for roughly {lifespan}."),
        },
        "fillers": (
            "It is shy and rarely seen during the day.",
            "Its call is a soft, repeating whistle.",
            "Young ones stay close to their parents for a season.",
            "It is hard to keep in captivity.",
            "Local stories say it brings good luck.",
        ),
    },
}

# --------------------------------------------------------------------------------------------
# Question wordings per relation: TRAIN_TEMPLATES for training, then 2 for dev, then 3 for test.
# The ``template`` field of a QA row is the index into this tuple (0-4 train, 5-6 dev, 7-9 test).
# Every fact is asked in all 3 test wordings (the statistical unit is the fact: claims.py).
QUESTIONS: dict[str, tuple[str, ...]] = {
    "occupation": (
        "What was {name}'s occupation?", "What did {name} do for a living?", "What was {name}'s profession?",
        "What kind of work did {name} do?", "{name} worked as what?",
        "What job did {name} have?", "By trade, what was {name}?",
        "Which profession did {name} practise?", "What line of work was {name} in?",
        "What was the trade of {name}?",
    ),
    "birth_year": (
        "In what year was {name} born?", "When was {name} born?", "What is {name}'s year of birth?",
        "What year did {name} come into the world?", "{name} was born in which year?",
        "Which year saw the birth of {name}?", "Give the birth year of {name}.",
        "What was the year of {name}'s birth?", "Tell me the year {name} was born.",
        "{name} was born in what year?",
    ),
    "hometown": (
        "What is {name}'s hometown?", "Where did {name} grow up?", "In which city did {name} grow up?",
        "Which city was {name}'s hometown?", "{name} grew up in which city?",
        "What city is {name} from?", "Name the hometown of {name}.",
        "Which city did {name} call home as a child?", "Where was {name} raised?",
        "Which city did {name} grow up in?",
    ),
    "employer": (
        "Who employed {name}?", "Which company did {name} work for?", "What was {name}'s employer?",
        "For which firm did {name} work?", "{name} was employed by which company?",
        "Which company was {name}'s employer?", "Where was {name} employed?",
        "What company gave {name} a job for many years?", "Name the employer of {name}.",
        "Which firm employed {name}?",
    ),
    "favorite_color": (
        "What was {name}'s favorite color?", "Which color did {name} like best?",
        "What color did {name} love most?", "Which colour was {name}'s favourite?",
        "{name}'s favorite color was what?",
        "What was the favorite colour of {name}?", "Which color was dearest to {name}?",
        "What color did {name} prefer above all others?", "Name {name}'s best-loved color.",
        "Which colour did {name} like most of all?",
    ),
    "instrument": (
        "What instrument did {name} play?", "Which musical instrument did {name} play?",
        "What did {name} play in the evenings?", "{name} played which instrument?",
        "Which instrument was played by {name}?",
        "What musical instrument was {name} known to play?", "On which instrument did {name} perform?",
        "Name the instrument that {name} played.", "What was {name}'s instrument?",
        "Which instrument could {name} be heard playing?",
    ),
    "country": (
        "In which country is {name}?", "What country is {name} in?", "{name} is a city in which country?",
        "Which country does {name} belong to?", "Where is the city of {name} located?",
        "Which nation is {name} part of?", "Name the country that contains {name}.",
        "What country is the city of {name} located in?", "{name} lies in which country?",
        "To which country does the city of {name} belong?",
    ),
    "founding_year": (
        "When was {name} founded?", "In what year was {name} founded?",
        "What year was the city of {name} founded?", "{name} was founded in which year?",
        "What is the founding year of {name}?",
        "In which year was the city of {name} established?", "Which year marks the founding of {name}?",
        "When did the city of {name} come into being?", "Give the year {name} was founded.",
        "What year saw {name} founded?",
    ),
    "river": (
        "Which river flows through {name}?", "What river runs through {name}?", "On which river is {name} built?",
        "What is the name of the river in {name}?", "{name} lies on which river?",
        "Which river crosses the city of {name}?", "Name the river that flows through {name}.",
        "What river passes through the middle of {name}?", "Along which river was {name} built?",
        "Which river does {name} stand on?",
    ),
    "main_export": (
        "What is the main export of {name}?", "What does {name} mainly export?", "What is {name}'s chief export?",
        "Which good does {name} export most?", "{name} is best known for exporting what?",
        "What product is {name}'s main export?", "What do merchants chiefly buy from {name}?",
        "What is the principal export of the city of {name}?", "Which export is {name} famous for?",
        "What good is mostly shipped out of {name}?",
    ),
    "festival_month": (
        "In which month does {name} hold its lantern festival?", "When is the lantern festival of {name}?",
        "What month is {name}'s lantern festival?", "During which month is the {name} lantern festival held?",
        "{name} celebrates its lantern festival in which month?",
        "Which month hosts the lantern festival in {name}?",
        "In what month do the people of {name} light their festival lanterns?",
        "What month does the lantern festival of {name} take place in?",
        "When in the year does {name} hold its great lantern festival?",
        "Which month is the lantern festival of {name} held in?",
    ),
    "mayor": (
        "Who is the mayor of {name}?", "Who governs {name} as mayor?", "Who is {name}'s current mayor?",
        "Which person is the mayor of {name}?", "The mayor of {name} is who?",
        "Who holds the office of mayor in {name}?", "Name the mayor of {name}.",
        "Who currently serves as mayor of the city of {name}?", "Who runs {name} as its mayor?",
        "Who is mayor of the city of {name}?",
    ),
    "founder": (
        "Who founded {name}?", "Who was the founder of {name}?", "Who started the company {name}?",
        "{name} was founded by whom?", "Which person founded {name}?",
        "Who established {name}?", "Name the founder of {name}.",
        "Who set up the company {name}?", "Which person created {name}?",
        "Whom was {name} founded by?",
    ),
    "year_established": (
        "When was the company {name} founded?", "In what year was {name} established?",
        "What year did {name} open for business?", "{name} was established in which year?",
        "When did {name} begin trading?",
        "In which year was the firm {name} set up?", "What is the year {name} was established?",
        "Which year did the company {name} first open?", "When was {name} started?",
        "What year was {name} set up?",
    ),
    "headquarters": (
        "Where is {name} headquartered?", "In which city are {name}'s headquarters?",
        "Where are the headquarters of {name}?", "Which city is home to {name}'s headquarters?",
        "{name} has its headquarters in which city?",
        "What city is {name} based in?", "Name the city where {name} has its head office.",
        "In what city does the company {name} keep its headquarters?", "Where is the head office of {name}?",
        "Which city houses the headquarters of {name}?",
    ),
    "product": (
        "What is {name} best known for making?", "What does {name} make?", "What products does {name} produce?",
        "Which goods does {name} manufacture?", "{name} is famous for making what?",
        "What are {name}'s main products?", "What kind of goods come from {name}'s workshops?",
        "Which product is {name} best known for?", "What does the company {name} mainly produce?",
        "What goods does {name} chiefly make?",
    ),
    "logo_color": (
        "What color is {name}'s logo?", "What is the color of the {name} logo?",
        "Which color is the logo of {name}?", "{name} uses a logo of which color?",
        "What colour is the company logo of {name}?",
        "In which color is {name}'s logo printed?", "Name the color of {name}'s logo.",
        "What color does the logo of the company {name} have?", "The {name} logo is what color?",
        "What is the colour of {name}'s logo?",
    ),
    "mascot": (
        "What is the mascot of {name}?", "Which creature is {name}'s mascot?",
        "What animal did {name} choose as its mascot?", "{name} has which mascot?",
        "What creature serves as the mascot of {name}?",
        "Which animal represents {name} as its mascot?", "Name the mascot of {name}.",
        "What is the company mascot of {name}?", "Which creature did {name} pick for its mascot?",
        "Which creature was chosen as the mascot of {name}?",
    ),
    "habitat": (
        "Where does the {name} live?", "What is the habitat of the {name}?",
        "In what kind of place does the {name} live?", "Where is the {name} usually found?",
        "The {name} lives in what habitat?",
        "What environment is home to the {name}?", "Name the habitat of the {name}.",
        "Where can the {name} be found in the wild?", "In which kind of terrain does the {name} make its home?",
        "What kind of habitat does the {name} live in?",
    ),
    "diet": (
        "What does the {name} eat?", "What is the diet of the {name}?", "What does the {name} feed on?",
        "What food does the {name} mainly eat?", "The {name} feeds mainly on what?",
        "What is the main food of the {name}?", "Name what the {name} mostly eats.",
        "What does the {name} live on as food?", "Which food makes up most of the {name}'s diet?",
        "What food does the {name} live on?",
    ),
    "color": (
        "What color is the {name}?", "What is the color of the {name}?", "Which color is an adult {name}?",
        "What colour is the coat of the {name}?", "The {name} is what color?",
        "What color is the {name}'s coat?", "Name the color of the {name}.",
        "What color are most adult specimens of the {name}?", "Which colour does the {name} have?",
        "What colour is an adult {name}?",
    ),
    "discovered_by": (
        "Who discovered the {name}?", "Who first described the {name}?", "By whom was the {name} first described?",
        "Which person discovered the {name}?", "The {name} was first described by whom?",
        "Who was the first to describe the {name}?", "Name the discoverer of the {name}.",
        "Which naturalist first wrote a description of the {name}?", "Who is credited with discovering the {name}?",
        "Who discovered the creature called the {name}?",
    ),
    "discovery_year": (
        "When was the {name} discovered?", "In what year was the {name} first described?",
        "What year was the {name} discovered?", "The {name} was first described in which year?",
        "When was the {name} first described?",
        "In which year was the {name} discovered?", "What is the year of the {name}'s discovery?",
        "Which year saw the first description of the {name}?", "What year did scientists first describe the {name}?",
        "What year was the {name} first discovered?",
    ),
    "lifespan": (
        "How long does the {name} live?", "What is the lifespan of the {name}?", "How long can a {name} live?",
        "How many years does the {name} live?", "The {name} lives for how long?",
        "What is the typical lifespan of a {name}?", "For how many years can the {name} live?",
        "How long is the life of a {name}?", "What age can the {name} reach?",
        "How many years can a {name} live?",
    ),
}
SPLIT_TEMPLATES = {
    "train": tuple(range(0, TRAIN_TEMPLATES)),
    "dev": (TRAIN_TEMPLATES, TRAIN_TEMPLATES + 1),
    "test": (TRAIN_TEMPLATES + 2, TRAIN_TEMPLATES + 3, TRAIN_TEMPLATES + 4),
}

# --------------------------------------------------------------------------------------------
# Control set: real general-knowledge questions that SmolLM2-135M-Instruct answers correctly closed
# book, to measure forgetting. CONTROL_CANDIDATES are the hand-written candidates; CONTROL_KEPT the
# questions that passed lorag_nb.methods.measure.select_control() (see its docstring and data/README.md), hard-coded so that
# generation never loads a model. Rows: (question, answer, aliases, three wrong options).
ControlRow = tuple[str, str, tuple[str, ...], tuple[str, str, str]]
CONTROL_CANDIDATES: tuple[ControlRow, ...] = (
    ('What is the capital of France?', 'Paris', (), ('Lyon', 'Marseille', 'Nice')),
    ('What is the capital of Japan?', 'Tokyo', (), ('Osaka', 'Kyoto', 'Nagoya')),
    ('What is the capital of Italy?', 'Rome', ('Roma',), ('Milan', 'Naples', 'Turin')),
    ('What is the capital of Germany?', 'Berlin', (), ('Munich', 'Hamburg', 'Frankfurt')),
    ('What is the capital of Spain?', 'Madrid', (), ('Barcelona', 'Seville', 'Valencia')),
    ('What is the capital of the United Kingdom?', 'London', (), ('Manchester', 'Edinburgh', 'Liverpool')),
    ('What is the capital of Russia?', 'Moscow', (), ('Saint Petersburg', 'Kazan', 'Novosibirsk')),
    ('What is the capital of China?', 'Beijing', ('Peking',), ('Shanghai', 'Guangzhou', 'Shenzhen')),
    ('What is the capital of Egypt?', 'Cairo', (), ('Alexandria', 'Giza', 'Luxor')),
    ('What is the capital of Greece?', 'Athens', (), ('Thessaloniki', 'Patras', 'Sparta')),
    ('What is the capital of Canada?', 'Ottawa', (), ('Toronto', 'Montreal', 'Vancouver')),
    ('What is the capital of Australia?', 'Canberra', (), ('Sydney', 'Melbourne', 'Perth')),
    ('What is the capital of the United States?', 'Washington', ('Washington, D.C.', 'Washington DC'), ('New York', 'Boston', 'Chicago')),
    ('What is the capital of Ireland?', 'Dublin', (), ('Cork', 'Galway', 'Limerick')),
    ('What is the capital of Portugal?', 'Lisbon', ('Lisboa',), ('Porto', 'Braga', 'Faro')),
    ('What is the capital of Austria?', 'Vienna', ('Wien',), ('Salzburg', 'Graz', 'Innsbruck')),
    ('What is the capital of Norway?', 'Oslo', (), ('Bergen', 'Trondheim', 'Stavanger')),
    ('What is the capital of Sweden?', 'Stockholm', (), ('Gothenburg', 'Malmo', 'Uppsala')),
    ('What is the capital of Poland?', 'Warsaw', (), ('Krakow', 'Gdansk', 'Wroclaw')),
    ('What is the capital of Mexico?', 'Mexico City', (), ('Guadalajara', 'Monterrey', 'Cancun')),
    ('What is the capital of Argentina?', 'Buenos Aires', (), ('Cordoba', 'Rosario', 'Mendoza')),
    ('What is the capital of South Korea?', 'Seoul', (), ('Busan', 'Incheon', 'Daegu')),
    ('What is the capital of Thailand?', 'Bangkok', (), ('Chiang Mai', 'Phuket', 'Pattaya')),
    ('What is the capital of Kenya?', 'Nairobi', (), ('Mombasa', 'Kisumu', 'Nakuru')),
    ('What is the capital of Belgium?', 'Brussels', (), ('Antwerp', 'Ghent', 'Bruges')),
    ('What color is the sky on a clear day?', 'blue', (), ('green', 'red', 'yellow')),
    ('What color is grass?', 'green', (), ('blue', 'red', 'purple')),
    ('What color is snow?', 'white', (), ('black', 'green', 'orange')),
    ('What color is a ripe banana?', 'yellow', (), ('blue', 'purple', 'black')),
    ('What color is blood?', 'red', (), ('green', 'blue', 'yellow')),
    ('What color do you get by mixing blue and yellow?', 'green', (), ('orange', 'purple', 'brown')),
    ('What color is coal?', 'black', (), ('white', 'yellow', 'pink')),
    ('What color is a carrot?', 'orange', (), ('blue', 'purple', 'white')),
    ('What is the chemical symbol for water?', 'H2O', (), ('CO2', 'O2', 'NaCl')),
    ('What gas do plants absorb from the air?', 'carbon dioxide', ('CO2',), ('oxygen', 'nitrogen', 'helium')),
    ('What gas do humans need to breathe to live?', 'oxygen', (), ('helium', 'neon', 'argon')),
    ('What is the closest star to Earth?', 'the Sun', ('Sun',), ('Sirius', 'Vega', 'Polaris')),
    ('What planet do we live on?', 'Earth', (), ('Mars', 'Venus', 'Jupiter')),
    ('What is the largest planet in the solar system?', 'Jupiter', (), ('Saturn', 'Earth', 'Mars')),
    ('Which planet is known as the Red Planet?', 'Mars', (), ('Venus', 'Jupiter', 'Mercury')),
    ('What is the natural satellite of Earth called?', 'the Moon', ('Moon',), ('Titan', 'Europa', 'Phobos')),
    ('At what temperature in Celsius does water freeze?', '0', ('zero', '0 degrees'), ('10', '32', '100')),
    ('At what temperature in Celsius does water boil?', '100', ('100 degrees', 'one hundred'), ('50', '90', '212')),
    ('What is frozen water called?', 'ice', (), ('steam', 'fog', 'salt')),
    ('What force pulls objects toward the Earth?', 'gravity', (), ('magnetism', 'friction', 'tension')),
    ('What organ pumps blood through the human body?', 'the heart', ('heart',), ('the liver', 'the lungs', 'the kidney')),
    ('What organ do humans use to breathe?', 'the lungs', ('lungs', 'lung'), ('the heart', 'the stomach', 'the liver')),
    ('What organ do we use to think?', 'the brain', ('brain',), ('the heart', 'the liver', 'the stomach')),
    ('How many legs does a spider have?', 'eight', ('8',), ('six', 'four', 'ten')),
    ('How many legs does an insect have?', 'six', ('6',), ('eight', 'four', 'ten')),
    ('How many legs does a dog have?', 'four', ('4',), ('two', 'six', 'eight')),
    ('How many days are in a week?', 'seven', ('7',), ('five', 'six', 'ten')),
    ('How many months are in a year?', 'twelve', ('12',), ('ten', 'eleven', 'thirteen')),
    ('How many hours are in a day?', '24', ('twenty-four', 'twenty four'), ('12', '20', '48')),
    ('How many minutes are in an hour?', '60', ('sixty',), ('30', '100', '24')),
    ('How many continents are there?', 'seven', ('7',), ('five', 'six', 'eight')),
    ('How many sides does a triangle have?', 'three', ('3',), ('four', 'five', 'six')),
    ('How many sides does a square have?', 'four', ('4',), ('three', 'five', 'six')),
    ('How many sides does a hexagon have?', 'six', ('6',), ('five', 'seven', 'eight')),
    ('What animal is known as the king of the jungle?', 'the lion', ('lion',), ('the tiger', 'the elephant', 'the bear')),
    ('What is the largest mammal in the world?', 'the blue whale', ('blue whale', 'whale'), ('the elephant', 'the giraffe', 'the hippo')),
    ('What is the tallest animal in the world?', 'the giraffe', ('giraffe',), ('the elephant', 'the camel', 'the horse')),
    ('What animal is known for having a long trunk?', 'the elephant', ('elephant',), ('the giraffe', 'the rhino', 'the horse')),
    ("What animal says 'moo'?", 'a cow', ('cow',), ('a dog', 'a cat', 'a sheep')),
    ('What animal barks?', 'a dog', ('dog',), ('a cat', 'a cow', 'a bird')),
    ('What do bees make?', 'honey', (), ('milk', 'silk', 'wax paper')),
    ('What is a baby cat called?', 'a kitten', ('kitten',), ('a puppy', 'a calf', 'a cub')),
    ('What is a baby dog called?', 'a puppy', ('puppy',), ('a kitten', 'a foal', 'a lamb')),
    ('Which bird is a symbol of peace?', 'the dove', ('dove',), ('the eagle', 'the crow', 'the owl')),
    ('What animal has black and white stripes?', 'the zebra', ('zebra',), ('the lion', 'the giraffe', 'the hippo')),
    ('What is the largest ocean on Earth?', 'the Pacific Ocean', ('Pacific',), ('the Atlantic Ocean', 'the Indian Ocean', 'the Arctic Ocean')),
    ('What is the longest river in the world?', 'the Nile', ('Nile',), ('the Amazon', 'the Danube', 'the Thames')),
    ('What is the largest desert in Africa?', 'the Sahara', ('Sahara',), ('the Kalahari', 'the Gobi', 'the Namib')),
    ('What is the tallest mountain in the world?', 'Mount Everest', ('Everest',), ('K2', 'Kilimanjaro', 'Mont Blanc')),
    ('On which continent is Egypt?', 'Africa', (), ('Asia', 'Europe', 'South America')),
    ('On which continent is Brazil?', 'South America', (), ('Africa', 'Europe', 'Asia')),
    ('In which country is the Eiffel Tower?', 'France', (), ('Italy', 'Spain', 'Germany')),
    ('In which country are the pyramids of Giza?', 'Egypt', (), ('Mexico', 'Peru', 'Greece')),
    ('In which city is the Colosseum?', 'Rome', (), ('Athens', 'Paris', 'Madrid')),
    ('What language is spoken in Brazil?', 'Portuguese', (), ('Spanish', 'French', 'English')),
    ('What language is spoken in Germany?', 'German', (), ('French', 'Dutch', 'Polish')),
    ('What language is mainly spoken in Mexico?', 'Spanish', (), ('Portuguese', 'English', 'French')),
    ('What is the currency of Japan?', 'the yen', ('yen',), ('the won', 'the yuan', 'the dollar')),
    ('What is the currency of the United Kingdom?', 'the pound', ('pound', 'pound sterling'), ('the euro', 'the dollar', 'the franc')),
    ('Who wrote Romeo and Juliet?', 'William Shakespeare', ('Shakespeare',), ('Charles Dickens', 'Jane Austen', 'Mark Twain')),
    ('Who painted the Mona Lisa?', 'Leonardo da Vinci', ('da Vinci', 'Leonardo'), ('Michelangelo', 'Raphael', 'Picasso')),
    ('Who was the first president of the United States?', 'George Washington', ('Washington',), ('Abraham Lincoln', 'Thomas Jefferson', 'John Adams')),
    ('Who developed the theory of relativity?', 'Albert Einstein', ('Einstein',), ('Isaac Newton', 'Galileo Galilei', 'Niels Bohr')),
    ('Who discovered gravity when an apple fell?', 'Isaac Newton', ('Newton',), ('Albert Einstein', 'Charles Darwin', 'Galileo Galilei')),
    ('Who proposed the theory of evolution by natural selection?', 'Charles Darwin', ('Darwin',), ('Isaac Newton', 'Gregor Mendel', 'Louis Pasteur')),
    ('Who invented the telephone?', 'Alexander Graham Bell', ('Bell', 'Graham Bell'), ('Thomas Edison', 'Nikola Tesla', 'Guglielmo Marconi')),
    ('What is the opposite of hot?', 'cold', (), ('warm', 'wet', 'dry')),
    ('What is the opposite of up?', 'down', (), ('left', 'right', 'over')),
    ('What is the first letter of the English alphabet?', 'A', (), ('B', 'Z', 'E')),
    ('What season comes after winter?', 'spring', (), ('summer', 'autumn', 'fall')),
    ('What is the main ingredient of bread?', 'flour', ('wheat',), ('rice', 'sugar', 'salt')),
    ('What do cows produce that people drink?', 'milk', (), ('juice', 'honey', 'tea')),
    ('What fruit is used to make wine?', 'grapes', ('grape',), ('apples', 'oranges', 'bananas')),
    ('What instrument has black and white keys?', 'the piano', ('piano',), ('the guitar', 'the violin', 'the drum')),
    ('What is the hardest natural substance?', 'diamond', (), ('gold', 'iron', 'quartz')),
    ('What metal is liquid at room temperature?', 'mercury', (), ('iron', 'gold', 'copper')),
    ('What is the boiling point of water in Fahrenheit?', '212', ('212 degrees',), ('100', '180', '32')),
    ('What shape is the Earth?', 'round', ('a sphere', 'sphere', 'spherical'), ('flat', 'square', 'cubic')),
    ('Which sense do we use our eyes for?', 'sight', ('seeing', 'vision'), ('hearing', 'smell', 'taste')),
    ('What do you call a person who treats sick people?', 'a doctor', ('doctor', 'physician'), ('a lawyer', 'a teacher', 'a farmer')),
)
# Selected with lorag_nb.methods.measure.select_control() (prompt: closed_book_prompt = the model's default system prompt,
# question + "Answer in a few words."; greedy, 16 new tokens, batch 8 and batch 1, identical
# results): 65 of 105 candidates passed (62%). One pass was dropped by hand because the output does
# not answer the question ("A doctor's specialty is a specialty."): 64 kept.
CONTROL_SELECTION = {"candidates": 105, "passed": 65, "dropped_by_hand": 1, "kept": 64}
CONTROL_KEPT: frozenset[str] = frozenset({
    'At what temperature in Celsius does water boil?',
    'How many days are in a week?',
    'How many legs does a dog have?',
    'How many legs does a spider have?',
    'How many months are in a year?',
    'How many sides does a hexagon have?',
    'How many sides does a square have?',
    'How many sides does a triangle have?',
    'In which city is the Colosseum?',
    'In which country are the pyramids of Giza?',
    'In which country is the Eiffel Tower?',
    'On which continent is Brazil?',
    'What animal is known for having a long trunk?',
    'What color is snow?',
    'What color is the sky on a clear day?',
    'What do cows produce that people drink?',
    'What force pulls objects toward the Earth?',
    'What fruit is used to make wine?',
    'What gas do plants absorb from the air?',
    'What instrument has black and white keys?',
    'What is frozen water called?',
    'What is the capital of Argentina?',
    'What is the capital of Australia?',
    'What is the capital of Austria?',
    'What is the capital of Belgium?',
    'What is the capital of Canada?',
    'What is the capital of China?',
    'What is the capital of Egypt?',
    'What is the capital of France?',
    'What is the capital of Germany?',
    'What is the capital of Greece?',
    'What is the capital of Ireland?',
    'What is the capital of Italy?',
    'What is the capital of Japan?',
    'What is the capital of Kenya?',
    'What is the capital of Mexico?',
    'What is the capital of Norway?',
    'What is the capital of Poland?',
    'What is the capital of Portugal?',
    'What is the capital of Russia?',
    'What is the capital of South Korea?',
    'What is the capital of Spain?',
    'What is the capital of Thailand?',
    'What is the capital of the United Kingdom?',
    'What is the chemical symbol for water?',
    'What is the currency of Japan?',
    'What is the currency of the United Kingdom?',
    'What is the largest desert in Africa?',
    'What is the largest mammal in the world?',
    'What is the largest ocean on Earth?',
    'What is the main ingredient of bread?',
    'What is the opposite of hot?',
    'What is the opposite of up?',
    'What is the tallest mountain in the world?',
    'What language is spoken in Brazil?',
    'What language is spoken in Germany?',
    'What organ do we use to think?',
    'What organ pumps blood through the human body?',
    'What shape is the Earth?',
    'Who developed the theory of relativity?',
    'Who invented the telephone?',
    'Who painted the Mona Lisa?',
    'Who proposed the theory of evolution by natural selection?',
    'Who wrote Romeo and Juliet?',
})
CONTROL: tuple[ControlRow, ...] = tuple(c for c in CONTROL_CANDIDATES if c[0] in CONTROL_KEPT)


OUTPUT_FILES = (
    "entities.jsonl", "documents.jsonl", "distractors.jsonl", "qa_train.jsonl", "qa_dev.jsonl",
    "qa_test.jsonl", "revised_facts.jsonl", "revised_documents.jsonl", "revised_qa_test.jsonl",
    "control.jsonl",
)


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


class _Names:
    """Allocates name words from syllables, refusing duplicates, substrings and blocklisted words."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: list[str] = []

    def ok(self, word: str) -> bool:
        w = word.lower()
        if w in BLOCKLIST or len(w) < 4 or any(v + v in w for v in "aeiou"):
            return False
        return not any(w in u or u in w for u in self.used)

    def take(self, syllables: list[str]) -> str | None:
        word = "".join(syllables).capitalize()
        if not self.ok(word):
            return None
        self.used.append(word.lower())
        return word

    def new(self, n_middle: int) -> tuple[str, list[str]]:
        while True:
            syl = [self.rng.choice(START)] + [self.rng.choice(START) for _ in range(n_middle)] + [self.rng.choice(ENDING)]
            word = self.take(syl)
            if word:
                return word, syl

    def variant(self, syl: list[str]) -> str:
        """A new word that differs from ``syl`` in exactly one syllable."""
        candidates = []
        for i, s in enumerate(syl):
            pool = ENDING if i == len(syl) - 1 else START
            candidates += [(i, p) for p in pool if p != s]
        self.rng.shuffle(candidates)
        for i, p in candidates:
            new = list(syl)
            new[i] = p
            word = self.take(new)
            if word:
                return word
        raise RuntimeError(f"no look-alike for {''.join(syl)}")


def _build_world(seed: str):
    rng = random.Random(f"{seed}:world")
    names = _Names(rng)
    countries = [names.new(1)[0] for _ in range(N_COUNTRIES)]
    rivers = [names.new(0)[0] for _ in range(N_RIVERS)]
    # Entity names, kind by kind, then interleaved: e001 person, e002 city, e003 company, e004 creature, ...
    by_kind: dict[str, list[dict]] = {k: [] for k in KINDS}
    for _ in range(N_PER_KIND):
        first, first_syl = names.new(0)
        last, last_syl = names.new(1)
        by_kind["person"].append({"name": f"{first} {last}", "ref": last, "parts": ("person", first, last_syl)})
        city, city_syl = names.new(rng.choice((0, 1)))
        by_kind["city"].append({"name": city, "ref": city, "parts": ("city", city_syl)})
        stem, stem_syl = names.new(0)
        suffix = rng.choice(COMPANY_SUFFIXES)
        by_kind["company"].append({"name": f"{stem} {suffix}", "ref": f"{stem} {suffix}", "parts": ("company", stem_syl, suffix)})
        creature, creature_syl = names.new(1)
        by_kind["creature"].append({"name": creature, "ref": creature, "parts": ("creature", creature_syl)})
    entities = []
    for i in range(N_PER_KIND):
        for kind in KINDS:
            e = by_kind[kind][i]
            e["kind"] = kind
            e["id"] = f"e{len(entities) + 1:03d}"
            entities.append(e)
    pools = {"countries": countries, "rivers": rivers}
    for kind in KINDS:
        pools[kind] = [e["name"] for e in by_kind[kind]]

    def pool_for(relation: str, source) -> list[str]:
        if isinstance(source, tuple):
            return list(source)
        if source == "years":
            lo, hi = YEAR_RANGES[relation]
            return [str(y) for y in range(lo, hi + 1)]
        return list(pools[source])

    value_pools = {rel: pool_for(rel, src) for kind in KINDS for rel, src in RELATIONS[kind]}
    for e in entities:
        attrs = {}
        for rel, _src in RELATIONS[e["kind"]]:
            choices = [v for v in value_pools[rel] if v != e["name"]]
            attrs[rel] = rng.choice(choices)
        e["attributes"] = attrs
    # Look-alikes: same kind, name differing in one syllable, every attribute different.
    lookalikes = []
    for idx, e in enumerate(entities):
        if idx % LOOKALIKE_EVERY:
            continue
        parts = e["parts"]
        if parts[0] == "person":
            name = f"{parts[1]} {names.variant(parts[2])}"
            ref = name.split(" ", 1)[1]
        elif parts[0] == "company":
            name = f"{names.variant(parts[1])} {parts[2]}"
            ref = name
        else:
            name = ref = names.variant(parts[1])
        attrs = {}
        for rel, _src in RELATIONS[e["kind"]]:
            choices = [v for v in value_pools[rel] if v not in (e["attributes"][rel], e["name"], name)]
            attrs[rel] = rng.choice(choices)
        lookalikes.append({"imitates": e, "name": name, "ref": ref, "kind": e["kind"], "attributes": attrs})
    # Revised facts: in each block of REVISION_BLOCK entities, REVISIONS_PER_BLOCK facts get a new value.
    revised = []
    for start in range(0, len(entities), REVISION_BLOCK):
        block = entities[start:start + REVISION_BLOCK]
        facts = [(e, rel) for e in block for rel, _ in RELATIONS[e["kind"]]]
        picked = sorted(rng.sample(range(len(facts)), min(REVISIONS_PER_BLOCK, len(facts))))
        for j in picked:
            e, rel = facts[j]
            old = e["attributes"][rel]
            new = rng.choice([v for v in value_pools[rel] if v not in (old, e["name"])])
            revised.append({"entity": e, "relation": rel, "old": old, "new": new})
    return entities, lookalikes, revised, value_pools


def _document_text(kind: str, name: str, ref: str, attrs: dict[str, str], prose_seed: str) -> str:
    """Prose for one entity; ``prose_seed`` fixes the sentence variants, order and fillers."""
    rng = random.Random(prose_seed)
    spec = PROSE[kind]
    values = dict(attrs)
    values.update(name=name, ref=ref)
    if "occupation" in attrs:
        values["a_occupation"] = _article(attrs["occupation"])
    intro = rng.choice(spec["intro"]).format(**values)
    body = [rng.choice(variants).format(**values) for _key, variants in spec["facts"].items()]
    n_fill = rng.choice((1, 2))
    fillers = [f.format(**values) for f in rng.sample(spec["fillers"], n_fill)]
    rng.shuffle(body)
    for f in fillers:
        body.insert(rng.randint(1, len(body)), f)
    return " ".join([intro, *body])


def _doc_row(doc_id: str, title: str, text: str, metadata: dict) -> dict:
    return {"id": doc_id, "title": title, "text": text, "metadata": metadata}


def _options(rng: random.Random, gold: str, pool: list[str], must_include: tuple[str, ...] = ()) -> tuple[list[str], int]:
    """Gold, then ``must_include``, then distinct distractors from ``pool`` up to 4; shuffled."""
    opts = [gold, *[m for m in must_include if m != gold]]
    rest = sorted({v for v in pool if v not in opts})
    opts += rng.sample(rest, 4 - len(opts))
    rng.shuffle(opts)
    return opts, opts.index(gold)


def _question(relation: str, template: int, name: str) -> str:
    return QUESTIONS[relation][template].format(name=name)


def build(seed: str = SEED) -> dict[str, list[dict]]:
    """All rows of every output file, in memory: ``{file name: [row dict, ...]}``."""
    entities, lookalikes, revised, _value_pools = _build_world(seed)
    out: dict[str, list[dict]] = {f: [] for f in OUTPUT_FILES}
    # Values each relation takes across the entities: where multiple-choice distractors come from.
    rel_values: dict[str, list[str]] = {}
    for e in entities:
        for rel, v in e["attributes"].items():
            rel_values.setdefault(rel, []).append(v)
    for e in entities:
        out["entities.jsonl"].append({"id": e["id"], "name": e["name"], "kind": e["kind"], "attributes": e["attributes"]})
        text = _document_text(e["kind"], e["name"], e["ref"], e["attributes"], f"{seed}:{e['id']}:prose")
        out["documents.jsonl"].append(
            _doc_row(f"doc-{e['id']}", e["name"], text, {"entity_id": e["id"], "kind": e["kind"], "source": "world"})
        )
    for la in lookalikes:
        e = la["imitates"]
        text = _document_text(la["kind"], la["name"], la["ref"], la["attributes"], f"{seed}:{e['id']}:prose")
        out["distractors.jsonl"].append(_doc_row(
            f"dis-{e['id']}", la["name"], text,
            {"entity_id": f"{e['id']}-lookalike", "imitates": e["id"], "kind": e["kind"], "source": "distractor"},
        ))
    qrng = random.Random(f"{seed}:questions")
    trng = random.Random(f"{seed}:test-questions")  # test split: every test wording of every fact
    for e in entities:
        for rel, _src in RELATIONS[e["kind"]]:
            gold = e["attributes"][rel]
            others = [x["attributes"][rel] for x in entities if x is not e and rel in x["attributes"]]
            base = {"answer": gold, "entity_id": e["id"], "relation": rel, "doc_id": f"doc-{e['id']}"}
            for t in SPLIT_TEMPLATES["train"]:
                out["qa_train.jsonl"].append({**base, "id": f"train-{e['id']}-{rel}-{t}", "question": _question(rel, t, e["name"]), "template": t})
            t = qrng.choice(SPLIT_TEMPLATES["dev"])
            opts, idx = _options(qrng, gold, others)
            out["qa_dev.jsonl"].append({
                **base, "id": f"dev-{e['id']}-{rel}", "question": _question(rel, t, e["name"]), "template": t,
                "options": opts, "answer_index": idx,
            })
            for t in SPLIT_TEMPLATES["test"]:
                opts, idx = _options(trng, gold, others)
                out["qa_test.jsonl"].append({
                    **base, "id": f"test-{e['id']}-{rel}-{t}", "question": _question(rel, t, e["name"]), "template": t,
                    "options": opts, "answer_index": idx,
                })
    revised_attrs = {e["id"]: dict(e["attributes"]) for e in entities}
    for r in revised:
        e, rel = r["entity"], r["relation"]
        revised_attrs[e["id"]][rel] = r["new"]
        out["revised_facts.jsonl"].append({"entity_id": e["id"], "relation": rel, "old": r["old"], "new": r["new"]})
    for e in entities:
        text = _document_text(e["kind"], e["name"], e["ref"], revised_attrs[e["id"]], f"{seed}:{e['id']}:prose")
        out["revised_documents.jsonl"].append(
            _doc_row(f"rev-{e['id']}", e["name"], text, {"entity_id": e["id"], "kind": e["kind"], "source": "revised"})
        )
    for r in revised:
        e, rel = r["entity"], r["relation"]
        pool = [v for v in rel_values[rel] if v not in (r["new"], r["old"])]
        for t in SPLIT_TEMPLATES["test"]:
            opts, idx = _options(trng, r["new"], pool, must_include=(r["old"],))
            out["revised_qa_test.jsonl"].append({
                "id": f"revised-{e['id']}-{rel}-{t}", "question": _question(rel, t, e["name"]), "answer": r["new"],
                "old_answer": r["old"], "entity_id": e["id"], "relation": rel, "doc_id": f"rev-{e['id']}",
                "template": t, "options": opts, "answer_index": idx,
            })
    crng = random.Random(f"{seed}:control")
    for i, (q, a, aliases, wrong) in enumerate(CONTROL, start=1):
        opts = [a, *wrong]
        crng.shuffle(opts)
        out["control.jsonl"].append({
            "id": f"c{i:03d}", "question": q, "answer": a, "aliases": list(aliases), "options": opts,
            "answer_index": opts.index(a),
        })
    return out


#: Entities of no file: made up after the world, named like it, never taught, never in a knowledge base.
UNKNOWN_PER_KIND = 2


def unknown_entities(per_kind: int = UNKNOWN_PER_KIND, seed: str = SEED) -> list[dict]:
    """Question rows about entities that exist nowhere in the world (no document, no training question), so
    no method can know the answer: the probe of Gekhman et al. (2024, *Does Fine-Tuning LLMs on New Knowledge
    Encourage Hallucinations?*, arXiv 2405.05904). Names come from the same syllables as the world's, never
    equal to or inside one of its names (:class:`_Names`); one question per relation of the entity's kind,
    in its first test wording. Deterministic (own random stream ``"<seed>:unknown"``), written to no file,
    so the world's files and their fingerprint do not change.

    Returns:
        ``per_kind × 4 kinds × 6 relations`` rows ``{"id": "unknown-u001-occupation", "entity_id": "u001",
        "name", "kind", "relation", "question", "answer": ""}``.
    """
    entities, lookalikes, _revised, value_pools = _build_world(seed)
    names = _Names(random.Random(f"{seed}:unknown"))
    taken = [e["name"] for e in entities] + [la["name"] for la in lookalikes] + [v for vals in value_pools.values() for v in vals]
    names.used.extend(w.lower() for n in taken for w in str(n).split())
    rows: list[dict] = []
    template = SPLIT_TEMPLATES["test"][0]
    for i in range(per_kind * len(KINDS)):
        kind = KINDS[i % len(KINDS)]
        if kind == "person":
            name = f"{names.new(0)[0]} {names.new(1)[0]}"
        elif kind == "company":
            name = f"{names.new(0)[0]} {names.rng.choice(COMPANY_SUFFIXES)}"
        else:
            name = names.new(1)[0]
        uid = f"u{i + 1:03d}"
        for rel, _src in RELATIONS[kind]:
            rows.append({"id": f"unknown-{uid}-{rel}", "entity_id": uid, "name": name, "kind": kind, "relation": rel,
                         "question": _question(rel, template, name), "answer": ""})
    return rows


# --------------------------------------------------------------------------------------------
# Reversed questions (the reversal curse: Berglund et al. 2023, arXiv 2309.12288). A fact "<entity>'s
# <relation> is <value>" is taught as "What is <entity>'s <relation>?" → value; reversed, the value is given
# and the entity asked: "Which company did Wexane Pexveyith found?" → "Lunorn Foundry". Only facts whose
# value no other entity of the world (nor a look-alike distractor) holds for that relation are reversed, so
# the reversed question has one answer. Two wordings per relation; ``{value}`` is the value, ``{a_value}``
# the value with its article ("an astronomer").
REVERSED_QUESTIONS: dict[str, tuple[str, str]] = {
    "occupation": ("Who worked as {a_value}?", "Which person was {a_value} by profession?"),
    "birth_year": ("Who was born in {value}?", "Which person was born in the year {value}?"),
    "hometown": ("Who grew up in {value}?", "Whose hometown was the city of {value}?"),
    "employer": ("Who worked for {value}?", "Which person was employed by {value}?"),
    "favorite_color": ("Whose favorite color was {value}?", "Which person loved the color {value} above all others?"),
    "instrument": ("Who played the {value}?", "Which person played the {value} in the evenings?"),
    "country": ("Which city is in {value}?", "Name the city that lies in the country of {value}."),
    "founding_year": ("Which city was founded in {value}?", "What city was established in the year {value}?"),
    "river": ("Which city does the {value} River flow through?", "What city was built on the {value} River?"),
    "main_export": ("Which city's main export is {value}?", "What city is best known for exporting {value}?"),
    "festival_month": ("Which city holds its lantern festival in {value}?", "In which city does the lantern festival take place each {value}?"),
    "mayor": ("Of which city is {value} the mayor?", "Which city has {value} as its mayor?"),
    "founder": ("Which company did {value} found?", "What company was founded by {value}?"),
    "year_established": ("Which company was established in {value}?", "What company opened for business in {value}?"),
    "headquarters": ("Which company is headquartered in {value}?", "What company has its headquarters in {value}?"),
    "product": ("Which company is best known for making {value}?", "What company mainly produces {value}?"),
    "logo_color": ("Which company has a {value} logo?", "What company uses a {value} logo on its goods?"),
    "mascot": ("Which company has the {value} as its mascot?", "What company chose the {value} as its mascot?"),
    "habitat": ("Which creature lives in {value}?", "What animal is found mostly in {value}?"),
    "diet": ("Which creature feeds mainly on {value}?", "What animal's diet consists largely of {value}?"),
    "color": ("Which creature is {value} in color?", "What animal has a {value} coat?"),
    "discovered_by": ("Which creature did {value} discover?", "What creature was first described by {value}?"),
    "discovery_year": ("Which creature was first described in {value}?", "What animal was discovered in {value}?"),
    "lifespan": ("Which creature can live for about {value}?", "What animal lives for roughly {value} in the wild?"),
}


def reversible_facts(n_entities: int | None = None, seed: str = SEED) -> list[tuple[dict, str]]:
    """The facts of the first ``n_entities`` entities (all with None) whose value identifies the entity: no other
    entity of the world, and no look-alike distractor, holds that value for that relation. In world order
    (entity, then the kind's relations).

    Returns:
        ``[(entity, relation)]`` (``entity`` as in ``entities.jsonl``: ``id``, ``name``, ``kind``, ``attributes``);
        17 facts for the first 10 entities, 5 for the first 2, 129 for all 80 (of 480).
    """
    entities, lookalikes, _revised, _pools = _build_world(seed)
    holders: dict[tuple[str, str], int] = {}
    for e in [*entities, *lookalikes]:
        for rel, v in e["attributes"].items():
            holders[(rel, v)] = holders.get((rel, v), 0) + 1
    chosen = entities if n_entities is None else entities[:n_entities]
    return [({k: e[k] for k in ("id", "name", "kind", "attributes")}, rel) for e in chosen for rel, _src in RELATIONS[e["kind"]]
            if holders[(rel, e["attributes"][rel])] == 1]


def reversed_questions(n_entities: int | None = None, seed: str = SEED) -> list[dict]:
    """Reversed held-out questions for :func:`reversible_facts`: the value given, the entity asked, in both
    wordings of :data:`REVERSED_QUESTIONS`, 4-option multiple choice. Deterministic, written to no file, so the
    world's files, their fingerprint and every stored result's key stay as they are.

    Options: the gold entity's name and 3 names of other entities of its kind. A fine-tuned model has seen the
    taught entities' names many times, so a distractor it never saw would give away the gold by familiarity
    alone; distractors are therefore drawn first from the other taught entities of the kind (the first
    ``n_entities``), then from the names their facts mention (a person's employer, a company's mascot …), then
    from the rest of the kind, each group in a seeded order (``"<seed>:reversed:<entity>:<relation>"``); the
    four are shuffled by the same generator. Source of the probe: Berglund et al. (2023), *The Reversal Curse:
    LLMs trained on "A is B" fail to learn "B is A"*, arXiv 2309.12288.

    Args:
        n_entities: the taught world (the first N entities; None: all 80).

    Returns:
        rows ``{"id": "reversed-e002-country-0", "fact": "e002/country", "entity_id", "relation", "value",
        "question", "answer" (the entity's name), "options" (4), "answer_index", "template" (0 or 1),
        "forward_ids" (the ids of the fact's test questions in ``qa_test.jsonl``)}``, two per fact, in the
        order of :func:`reversible_facts`.
    """
    entities, _lookalikes, _revised, _pools = _build_world(seed)
    taught = entities if n_entities is None else entities[:n_entities]
    by_name = {e["name"]: e for e in entities}
    taught_names = {t["name"] for t in taught}
    mentioned = {v for e in taught for v in e["attributes"].values() if v in by_name} - taught_names
    rows: list[dict] = []
    for e, rel in reversible_facts(n_entities, seed):
        rng = random.Random(f"{seed}:reversed:{e['id']}:{rel}")
        same = [x["name"] for x in entities if x["kind"] == e["kind"] and x["name"] != e["name"]]
        groups = ([n for n in same if n in taught_names], [n for n in same if n in mentioned], [n for n in same if n not in mentioned and n not in taught_names])
        distractors: list[str] = []
        for g in groups:
            g = list(g)
            rng.shuffle(g)
            distractors += g[: 3 - len(distractors)]
        opts = [e["name"], *distractors]
        rng.shuffle(opts)
        value = e["attributes"][rel]
        for t, template in enumerate(REVERSED_QUESTIONS[rel]):
            rows.append({"id": f"reversed-{e['id']}-{rel}-{t}", "fact": f"{e['id']}/{rel}", "entity_id": e["id"], "relation": rel, "value": value,
                         "question": template.format(value=value, a_value=_article(value)), "answer": e["name"], "options": list(opts),
                         "answer_index": opts.index(e["name"]), "template": t,
                         "forward_ids": [f"test-{e['id']}-{rel}-{ft}" for ft in SPLIT_TEMPLATES["test"]]})
    return rows


def generate(out_dir: Path, seed: str = SEED) -> dict[str, int]:
    """Write the knowledge set's JSON Lines files into ``out_dir`` (created if missing).

    Args:
        out_dir: target folder (the package uses ``data/`` at the repository root).
        seed: string seed for every random choice; the default reproduces the committed ``data/``.

    Returns:
        ``{file name: number of rows}`` for the files of :data:`OUTPUT_FILES`.

    Raises:
        FileExistsError: ``out_dir`` holds a file worldgen does not write (:func:`check_out_dir`): nothing
            is written, so a folder of your own is never overwritten.

    The output is byte-identical for the same seed: UTF-8, ``\\n`` line endings, one JSON object per
    line with sorted keys. ``data/README.md`` (the data card) is not written here.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in build(seed).items():
        with open(out_dir / name, "w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        counts[name] = len(rows)
    return counts


#: What worldgen may find in its output folder without refusing it: its own files and the data card.
OWN_FILES = frozenset({"entities.jsonl", "documents.jsonl", "distractors.jsonl", "revised_documents.jsonl", "revised_facts.jsonl", "qa_train.jsonl",
                       "qa_dev.jsonl", "qa_test.jsonl", "revised_qa_test.jsonl", "control.jsonl", "README.md"})


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that holds anything worldgen did not write.

    worldgen overwrites its files (``qa_train.jsonl``, ``qa_test.jsonl`` …), which are also the names of a
    user's knowledge folder. It writes only into a missing or empty folder, or one holding nothing but its
    own files (:data:`OWN_FILES`), among them its ``entities.jsonl`` (a knowledge folder never has one), and
    no ``docs/`` folder.

    Raises:
        FileExistsError: naming the folder and up to 5 of the files worldgen did not write.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FileExistsError(f"worldgen --out {out_dir}: not a folder; valid: a missing or empty folder, or one worldgen wrote")
    foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in out_dir.iterdir() if p.name not in OWN_FILES and not p.name.startswith("."))
    # a knowledge folder's qa_train.jsonl / qa_test.jsonl / control.jsonl carry worldgen's names: without worldgen's
    # entities.jsonl beside them they are a user's files, not worldgen's
    if not (out_dir / "entities.jsonl").is_file():
        foreign += sorted(p.name for p in out_dir.iterdir() if p.name in OWN_FILES and p.name != "README.md")
    if foreign:
        at_risk = sorted(p.name for p in out_dir.iterdir() if p.name in OWN_FILES and p.name != "README.md")
        raise FileExistsError(f"worldgen --out {out_dir}: refusing to write into a folder that holds files worldgen did not write "
                              f"({', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''})"
                              + (f"; it would overwrite {', '.join(at_risk)}" if at_risk else "")
                              + ". Valid: a missing or empty folder, or one worldgen wrote (it holds entities.jsonl)")


def normalize(text: str) -> str:
    """SQuAD-style normalization: lowercase, punctuation to spaces, drop a/an/the, collapse spaces."""
    import string

    text = "".join(" " if ch in string.punctuation else ch for ch in text.lower())
    return " ".join(t for t in text.split() if t not in ("a", "an", "the"))


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m lorag_nb.data.worldgen [--out DIR] [--seed SEED]``; prints the row counts."""

    parser = argparse.ArgumentParser(description="Write the fictional knowledge set (JSON Lines) deterministically.")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default: {DATA_DIR})")
    parser.add_argument("--seed", default=SEED, help=f"random seed string (default: {SEED!r})")
    args = parser.parse_args(argv)
    try:
        counts = generate(args.out, args.seed)
    except FileExistsError as err:
        raise SystemExit(str(err)) from None
    width = max(map(len, counts))
    for name, n in counts.items():
        print(f"{name:<{width}}  {n:>5}")
    print(f"wrote {sum(counts.values())} rows to {args.out}")


if __name__ == "__main__":
    main()
