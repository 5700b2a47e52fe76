"""Vocabularies for the synthetic conversation generator (written for this project; no external data).

Each concept that a question asks about carries synonyms, so the question can name it differently from the
turn that states it.
"""

from __future__ import annotations

from typing import NamedTuple

FEMALE_NAMES = (
    "Abigail", "Adriana", "Alina", "Amara", "Anika", "Beatriz", "Bianca", "Camila", "Carmen", "Celeste",
    "Chloe", "Dalia", "Daphne", "Elena", "Eliza", "Esme", "Fatima", "Fiona", "Freya", "Gemma",
    "Greta", "Hana", "Harper", "Imani", "Ines", "Iris", "Jade", "Johanna", "Keiko", "Kira",
    "Lana", "Leila", "Lucia", "Mabel", "Maya", "Mei", "Mira", "Nadia", "Naomi", "Nell",
    "Noor", "Olivia", "Paloma", "Petra", "Priya", "Quinn", "Renata", "Rosa", "Ruth", "Sabine",
    "Selma", "Sofia", "Talia", "Tessa", "Uma", "Vera", "Willa", "Yara", "Zara", "Zoe",
)  # fmt: skip

MALE_NAMES = (
    "Aaron", "Adil", "Alonso", "Amir", "Anton", "Arjun", "Bastian", "Bruno", "Caleb", "Cyrus",
    "Dario", "Declan", "Desmond", "Elias", "Emeka", "Ezra", "Felix", "Finn", "Gabriel", "Gideon",
    "Hamid", "Hugo", "Idris", "Ivan", "Jonah", "Jorge", "Julian", "Kai", "Kenji", "Kofi",
    "Lars", "Leon", "Luca", "Malik", "Marco", "Mateo", "Milo", "Nico", "Oren", "Oscar",
    "Pablo", "Pavel", "Rafael", "Ravi", "Reuben", "Rohan", "Samir", "Santiago", "Silas", "Soren",
    "Tariq", "Theo", "Tobias", "Umar", "Victor", "Wesley", "Xavier", "Yusuf", "Zane", "Zoltan",
)  # fmt: skip

PET_NAMES = (
    "Biscuit", "Pepper", "Mochi", "Juniper", "Waffles", "Ziggy", "Olive", "Pickles", "Noodle", "Clementine",
    "Basil", "Pretzel", "Nugget", "Marble", "Tofu", "Peanut", "Scout", "Maple", "Rocket", "Truffle",
    "Dumpling", "Sprout", "Bean", "Ginger", "Pumpkin", "Hazel", "Cosmo", "Luna", "Brisket", "Poppy",
    "Cinnamon", "Pixel", "Taco", "Radish", "Fig", "Gizmo", "Kiwi", "Sushi", "Jelly", "Cricket",
    "Mango", "Bagel", "Domino", "Rusty", "Socks", "Ollie", "Nacho", "Pebble", "Sesame", "Chai",
)  # fmt: skip


class Job(NamedTuple):
    """An occupation: its title, the industry it belongs to, where it is done and a detail of the work."""

    title: str
    sector: str
    workplace: str
    detail: str


JOBS = (
    Job("nurse", "healthcare", "the county hospital", "twelve-hour shifts on the cardiac ward"),
    Job("pediatric nurse", "healthcare", "the children's hospital", "a string of night shifts"),
    Job("physical therapist", "healthcare", "a sports clinic", "a waiting room full of sprained ankles"),
    Job("pharmacist", "healthcare", "the pharmacy on Elm Street", "the flu-season rush"),
    Job("dental hygienist", "healthcare", "a dental practice", "back-to-back cleanings"),
    Job("high school chemistry teacher", "education", "Lincoln High", "a mountain of lab reports to grade"),
    Job("kindergarten teacher", "education", "Maple Grove Elementary", "twenty-six five-year-olds"),
    Job("librarian", "education", "the public library", "the summer reading program"),
    Job("university lecturer", "education", "the state university", "midterms to mark"),
    Job("software engineer", "technology", "a startup downtown", "a product launch that keeps slipping"),
    Job("IT support specialist", "technology", "a logistics company", "a server migration"),
    Job("data analyst", "finance", "an insurance firm", "quarterly reports"),
    Job("accountant", "finance", "a small accounting firm", "tax season"),
    Job("loan officer", "finance", "the credit union", "a pile of mortgage applications"),
    Job("line cook", "hospitality", "an Italian restaurant", "the Friday dinner rush"),
    Job("pastry chef", "hospitality", "a French bakery", "4 a.m. starts for the croissants"),
    Job("hotel manager", "hospitality", "a boutique hotel", "a wedding party that booked the whole floor"),
    Job("architect", "construction", "a design studio", "drawings for a new library"),
    Job("electrician", "construction", "a contracting company", "rewiring an old farmhouse"),
    Job("carpenter", "construction", "a custom furniture shop", "a walnut dining table for a client"),
    Job("graphic designer", "media", "an ad agency", "a rebrand for a coffee chain"),
    Job("reporter", "media", "the local newspaper", "city council meetings that run past midnight"),
    Job("video editor", "media", "a production company", "a documentary deadline"),
    Job("paralegal", "law", "a law firm", "a huge contract review"),
    Job("firefighter", "public safety", "Station 9", "24-hour shifts"),
    Job("emergency dispatcher", "public safety", "the county dispatch center", "overnight calls"),
    Job("veterinarian", "animal care", "an animal clinic", "a week of spay surgeries"),
    Job("dog groomer", "animal care", "a grooming salon", "a poodle that would not sit still"),
    Job("marine biologist", "science", "the aquarium's research lab", "sampling kelp forests"),
    Job("lab technician", "science", "a university lab", "running samples until late"),
    Job("airline pilot", "aviation", "a regional airline", "early-morning departures"),
    Job("flight attendant", "aviation", "a national airline", "back-to-back red-eyes"),
    Job("auto mechanic", "automotive", "a repair shop", "a vintage truck that refuses to start"),
    Job("bookstore manager", "retail", "an independent bookstore", "inventory week"),
    Job("florist", "retail", "a flower shop", "wedding season"),
    Job("social worker", "social services", "a family services agency", "home visits across the county"),
    Job("urban planner", "government", "city hall", "a new bike-lane plan"),
    Job("park ranger", "government", "the state park", "trail repairs after the storms"),
    Job("personal trainer", "fitness", "a gym across town", "6 a.m. clients"),
    Job("yoga instructor", "fitness", "a studio near the river", "a full schedule of classes"),
)


class City(NamedTuple):
    """A place, the kind of region it is in (``state``, ``country``...) and that region."""

    name: str
    region_kind: str
    region: str
    feature: str


HOME_CITIES = (
    City("Denver", "state", "Colorado", "the mountains on the horizon"),
    City("Portland", "state", "Oregon", "the food carts"),
    City("Austin", "state", "Texas", "live music on every corner"),
    City("Seattle", "state", "Washington", "the ferries across the sound"),
    City("Boston", "state", "Massachusetts", "the old brick streets"),
    City("Chicago", "state", "Illinois", "the lakefront path"),
    City("Minneapolis", "state", "Minnesota", "the lakes in the middle of town"),
    City("Nashville", "state", "Tennessee", "the honky-tonks"),
    City("San Diego", "state", "California", "the beaches"),
    City("Savannah", "state", "Georgia", "the mossy squares"),
    City("Albuquerque", "state", "New Mexico", "the desert sunsets"),
    City("Pittsburgh", "state", "Pennsylvania", "all the bridges"),
    City("Madison", "state", "Wisconsin", "the farmers market"),
    City("Asheville", "state", "North Carolina", "the hiking trails"),
    City("Richmond", "state", "Virginia", "the river rapids downtown"),
    City("Tucson", "state", "Arizona", "the saguaros"),
    City("Boise", "state", "Idaho", "the greenbelt along the river"),
    City("Salt Lake City", "state", "Utah", "the ski resorts half an hour away"),
    City("Burlington", "state", "Vermont", "the lake in autumn"),
    City("Santa Fe", "state", "New Mexico", "the adobe galleries"),
    City("Toronto", "province", "Ontario", "the neighborhoods full of food"),
    City("Vancouver", "province", "British Columbia", "the seawall"),
    City("Montreal", "province", "Quebec", "the bagels"),
    City("Halifax", "province", "Nova Scotia", "the harbor"),
    City("Calgary", "province", "Alberta", "the view of the Rockies"),
)

DESTINATIONS = (
    City("Lisbon", "country", "Portugal", "the tiled buildings"),
    City("Porto", "country", "Portugal", "the riverside cellars"),
    City("Barcelona", "country", "Spain", "the architecture"),
    City("Seville", "country", "Spain", "the orange trees"),
    City("Lyon", "country", "France", "the food"),
    City("Munich", "country", "Germany", "the beer gardens"),
    City("Amsterdam", "country", "the Netherlands", "the canals"),
    City("Copenhagen", "country", "Denmark", "the bikes everywhere"),
    City("Dublin", "country", "Ireland", "the pubs"),
    City("Edinburgh", "country", "Scotland", "the castle on the hill"),
    City("Kyoto", "country", "Japan", "the temples"),
    City("Osaka", "country", "Japan", "the street food"),
    City("Melbourne", "country", "Australia", "the coffee"),
    City("Auckland", "country", "New Zealand", "the harbor"),
    City("Cape Town", "country", "South Africa", "Table Mountain"),
    City("Mexico City", "country", "Mexico", "the markets"),
    City("Oaxaca", "country", "Mexico", "the mole"),
    City("Buenos Aires", "country", "Argentina", "the tango halls"),
    City("Reykjavik", "country", "Iceland", "the hot springs"),
    City("Prague", "country", "the Czech Republic", "the old town square"),
    City("Vienna", "country", "Austria", "the coffee houses"),
    City("Krakow", "country", "Poland", "the old town"),
    City("Seoul", "country", "South Korea", "the night markets"),
    City("Hanoi", "country", "Vietnam", "the street food"),
    City("Marrakesh", "country", "Morocco", "the souks"),
    City("Istanbul", "country", "Turkey", "the bazaars"),
    City("Cartagena", "country", "Colombia", "the colorful walls"),
    City("Athens", "country", "Greece", "the ruins"),
    City("New Orleans", "state", "Louisiana", "the jazz bars"),
    City("Charleston", "state", "South Carolina", "the old houses"),
    City("Honolulu", "state", "Hawaii", "the beaches"),
    City("Sedona", "state", "Arizona", "the red rocks"),
)


class Relative(NamedTuple):
    """A person related to a persona: the word the persona uses, a paraphrase for questions, and the
    person's gender where the word fixes it (``True``: female, ``None``: either)."""

    word: str
    paraphrase: str
    female: bool | None = None


COMPANIONS = (
    Relative("sister", "sibling", True),
    Relative("brother", "sibling", False),
    Relative("mom", "mother", True),
    Relative("dad", "father", False),
    Relative("best friend", "closest friend"),
    Relative("cousin", "relative"),
    Relative("college roommate", "old university roommate"),
)

PARTNERS_FOR_FEMALE = (
    Relative("husband", "spouse", False),
    Relative("partner", "significant other"),
    Relative("boyfriend", "significant other", False),
)
PARTNERS_FOR_MALE = (
    Relative("wife", "spouse", True),
    Relative("partner", "significant other"),
    Relative("girlfriend", "significant other", True),
)

OTHERS = (
    ("coworker", None),
    ("neighbor", None),
    ("cousin", None),
    ("friend", None),
    ("boss", None),
    ("old roommate", None),
    ("gym buddy", None),
    ("classmate", None),
    ("brother-in-law", False),
    ("sister-in-law", True),
    ("uncle", False),
    ("aunt", True),
)
"""Third people whose events are distractors, with their gender where the word fixes it (``True``: female)."""

TRIP_LENGTHS = ("a long weekend", "four days", "five days", "a week", "ten days", "two weeks")
TRIP_WORDS = ("trip", "vacation", "getaway", "holiday", "travels")
TRIP_DETAILS = (
    "The food alone was worth it.",
    "We walked something like twenty thousand steps a day.",
    "It rained half the time and we still loved it.",
    "I already want to go back.",
    "We found a tiny cafe and went there every single morning.",
    "We got lost constantly, which was half the fun.",
    "I came home with way too many souvenirs.",
    "The jet lag was brutal but so worth it.",
)


class Race(NamedTuple):
    """A race, paraphrases of it, and the range of plausible finishing times in minutes."""

    name: str
    paraphrases: tuple[str, ...]
    fastest: int
    slowest: int


RACES = (
    Race("5K", ("five-kilometre run", "3.1-mile race"), 21, 38),
    Race("10K", ("ten-kilometre race", "6.2-mile run"), 44, 72),
    Race("half marathon", ("21-kilometre race", "13.1-mile run"), 98, 155),
    Race("marathon", ("26.2-mile race", "42-kilometre run"), 205, 320),
    Race("sprint triathlon", ("swim-bike-run event", "multisport race"), 70, 110),
    Race("trail race", ("off-road run", "run through the hills"), 60, 140),
)
RACE_CAUSES = (
    "a children's hospital",
    "the local animal shelter",
    "cancer research",
    "a literacy charity",
    "the food bank",
    "mental health awareness",
    "clean water projects",
)


class Course(NamedTuple):
    """Something a persona signs up to learn, and a paraphrase of what it teaches."""

    name: str
    paraphrase: str


COURSES = (
    Course("a pottery class", "working with clay"),
    Course("an evening Spanish course", "a new language"),
    Course("a beginner photography workshop", "using a camera properly"),
    Course("a sourdough baking class", "making bread"),
    Course("a coding bootcamp", "programming"),
    Course("a first-aid certification course", "emergency care"),
    Course("a watercolor painting class", "painting"),
    Course("a salsa dancing class", "a Latin dance"),
    Course("a woodworking class", "building furniture"),
    Course("an improv comedy class", "performing on stage"),
    Course("a sign language course", "signing"),
    Course("a creative writing workshop", "fiction writing"),
    Course("a beekeeping course", "looking after hives"),
    Course("a scuba certification course", "diving"),
    Course("a Japanese language class", "an Asian language"),
    Course("a floral design workshop", "arranging flowers"),
    Course("a public speaking course", "giving talks"),
    Course("an astronomy night class", "stargazing"),
    Course("a jewelry making class", "making rings and necklaces"),
    Course("a cake decorating class", "icing and piping"),
)
COURSE_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday")


class Occasion(NamedTuple):
    """An occasion for a gift, as said and as paraphrased."""

    word: str
    paraphrase: str


OCCASIONS = (
    Occasion("my birthday", "turning a year older"),
    Occasion("our anniversary", "their anniversary"),
    Occasion("my promotion", "getting promoted"),
    Occasion("my graduation", "finishing school"),
    Occasion("the holidays", "the end-of-year celebrations"),
)
GIFTS = (
    "a vintage film camera",
    "noise-cancelling headphones",
    "a cast-iron skillet",
    "a telescope",
    "an e-reader",
    "a hammock",
    "a record player",
    "a smartwatch",
    "a sewing machine",
    "a pasta maker",
    "a weighted blanket",
    "a bonsai tree",
    "a leather journal",
    "a camera drone",
    "an espresso machine",
    "a hand-knit scarf",
    "a bread maker",
    "a hiking backpack",
    "a karaoke machine",
    "an instant camera",
    "a terrarium full of succulents",
    "a set of chef's knives",
    "a ukulele",
    "a pair of trail running shoes",
    "a star map of the night we met",
)
GIFT_GIVERS = ("sister", "brother", "mom", "dad", "best friend", "grandma", "aunt", "uncle")
GIVER_PARAPHRASES = {
    "sister": "sibling",
    "brother": "sibling",
    "mom": "mother",
    "dad": "father",
    "best friend": "closest friend",
    "grandma": "grandmother",
    "aunt": "relative",
    "uncle": "relative",
    "husband": "spouse",
    "wife": "spouse",
    "partner": "significant other",
    "boyfriend": "significant other",
    "girlfriend": "significant other",
}


class Species(NamedTuple):
    """A pet animal: the word, the word for a young one, paraphrases, breeds and a photo caption."""

    word: str
    young: str
    paraphrases: tuple[str, ...]
    breeds: tuple[str, ...]
    caption: str
    anecdote: str


SPECIES = (
    Species(
        "dog",
        "puppy",
        ("pup", "canine companion", "four-legged friend"),
        ("beagle", "border collie", "labrador", "corgi", "terrier", "greyhound", "husky", "shepherd"),
        "a photo of a small puppy curled up on a blanket",
        "{pet} dragged me halfway across the park this morning chasing a squirrel.",
    ),
    Species(
        "cat",
        "kitten",
        ("feline", "kitty", "furry roommate"),
        ("tabby", "calico", "Siamese", "Maine Coon", "tuxedo", "ragdoll"),
        "a photo of a kitten sleeping in a shoebox",
        "{pet} has decided my laptop keyboard is the best bed in the house.",
    ),
    Species(
        "rabbit",
        "bunny",
        ("rabbit", "long-eared pet"),
        ("lop", "Rex", "Dutch"),
        "a photo of a rabbit nibbling a carrot on the floor",
        "{pet} chewed through another phone charger, so that's a fun expense.",
    ),
)
OLD_PETS = (
    ("parrot", "{pet} learned to copy the microwave beep and now does it at 6 a.m."),
    ("tortoise", "{pet} escaped the garden again. Slowest escape artist in history."),
    ("hamster", "{pet} ran on that wheel all night long. I barely slept."),
    ("bearded dragon", "{pet} sat under the heat lamp looking unimpressed with everything."),
    ("goldfish", "{pet} has outlived three of my houseplants. Honestly, a legend."),
)
SHELTERS = (
    ("the county shelter", "a local animal shelter"),
    ("a rescue group", "a rescue organization"),
    ("the humane society", "an animal welfare charity"),
    ("a foster family", "the people fostering it"),
)


class Hobby(NamedTuple):
    """A pastime: its name (the answer), first-person lines mentioning it, its trait and a paraphrase."""

    name: str
    lines: tuple[str, ...]
    trait: str
    paraphrase: str


HOBBIES = (
    Hobby(
        "rock climbing",
        (
            "Spent all of Sunday bouldering at the climbing gym. My forearms are toast.",
            "Finally sent that V4 on the overhang wall I've been projecting for weeks!",
        ),
        "active",
        "scaling walls",
    ),
    Hobby(
        "gardening",
        (
            "The tomatoes in my raised beds are finally coming in!",
            "I was out weeding the vegetable patch until it got dark.",
        ),
        "outdoors",
        "growing vegetables",
    ),
    Hobby(
        "watercolor painting",
        (
            "Finished another little watercolor of the harbor last night.",
            "My new brushes make such a difference when I paint.",
        ),
        "creative",
        "making art",
    ),
    Hobby(
        "playing the cello",
        (
            "I practiced the cello for two hours yesterday and my neighbors haven't complained yet.",
            "Our string quartet finally nailed the second movement.",
        ),
        "musical",
        "a string instrument",
    ),
    Hobby(
        "birdwatching",
        (
            "Saw a pileated woodpecker on my walk this morning! Got it in my bird log.",
            "Got up at dawn with my binoculars again. Totally worth it.",
        ),
        "outdoors",
        "spotting wildlife",
    ),
    Hobby(
        "baking",
        ("I baked three batches of cardamom buns this weekend.", "My lemon tart finally didn't crack!"),
        "culinary",
        "making pastries",
    ),
    Hobby(
        "trail running",
        (
            "Did twelve miles on the ridge trail this weekend. Muddy but glorious.",
            "My trail shoes are falling apart from all the mud lately.",
        ),
        "active",
        "running off-road",
    ),
    Hobby(
        "knitting",
        (
            "I'm halfway through knitting a sweater for my nephew.",
            "I finally learned cable stitches. My scarf looks so fancy now.",
        ),
        "creative",
        "making things with yarn",
    ),
    Hobby(
        "chess",
        (
            "I played in the online blitz tournament again and won four games in a row.",
            "Been studying openings every night. The Sicilian is finally making sense.",
        ),
        "strategic",
        "a classic board game",
    ),
    Hobby(
        "kayaking",
        (
            "Paddled the whole length of the reservoir on Saturday.",
            "Flipped my kayak for the first time. Cold water, big laugh.",
        ),
        "outdoors",
        "paddling",
    ),
    Hobby(
        "woodworking",
        (
            "Just sanded the top of the side table I've been building in the garage.",
            "Bought a new chisel set for my shop projects.",
        ),
        "creative",
        "building things from wood",
    ),
    Hobby(
        "salsa dancing",
        (
            "Went dancing at the salsa social on Friday until they kicked us out.",
            "Finally got the hang of the cross-body lead on the dance floor.",
        ),
        "social",
        "Latin dancing",
    ),
    Hobby(
        "photography",
        (
            "Got some great shots of the fog rolling over the bridge at sunrise.",
            "I've been editing my photos from the weekend photo walk.",
        ),
        "creative",
        "taking pictures",
    ),
    Hobby(
        "cycling",
        ("Rode sixty miles with the cycling club on Sunday.", "New bike saddle, and my back is thanking me."),
        "active",
        "riding a bike",
    ),
    Hobby(
        "playing guitar",
        (
            "Learned a new fingerpicking pattern on the guitar last night.",
            "Restrung my guitar and played until midnight.",
        ),
        "musical",
        "a six-string instrument",
    ),
    Hobby(
        "board games",
        (
            "We had a six-hour board game marathon at my place on Saturday.",
            "I finally beat everyone at that train-building game.",
        ),
        "social",
        "tabletop gaming",
    ),
    Hobby(
        "swimming",
        ("Swam forty laps before work this morning.", "I'm trying to get my mile swim under thirty minutes."),
        "active",
        "doing laps in a pool",
    ),
    Hobby(
        "cooking Thai food",
        (
            "Made green curry from scratch, even pounded the paste myself.",
            "My pad see ew is finally restaurant quality.",
        ),
        "culinary",
        "Southeast Asian cooking",
    ),
    Hobby(
        "volunteering at the food bank",
        (
            "Spent Saturday morning sorting cans at the food bank.",
            "We packed three hundred grocery boxes at the food bank yesterday.",
        ),
        "social",
        "helping out at a charity",
    ),
    Hobby(
        "hiking",
        (
            "Hiked up to the fire lookout on Sunday. The view was unreal.",
            "Broke in my new boots on a nine-mile loop this weekend.",
        ),
        "outdoors",
        "walking in the hills",
    ),
    Hobby(
        "piano",
        (
            "I've been practicing a Chopin nocturne on the piano every night.",
            "My piano teacher says my left hand is finally catching up.",
        ),
        "musical",
        "playing the keys",
    ),
    Hobby(
        "pottery",
        (
            "I threw six bowls on the wheel this week and only two collapsed.",
            "My glazed mugs came out of the kiln today!",
        ),
        "creative",
        "working with clay",
    ),
)

TRAIT_OUTINGS = {
    "active": ("an adventure race", "a rock-climbing trip", "a charity bike ride"),
    "outdoors": ("a weekend camping by a lake", "a guided nature walk", "a day at a botanical garden"),
    "creative": ("an afternoon at an art museum workshop", "a craft fair", "a sketching retreat"),
    "musical": ("a jazz festival", "an evening at the symphony", "an open-mic night"),
    "culinary": ("a food market tour", "a chef's tasting menu", "a cooking competition"),
    "strategic": ("a puzzle hunt", "a strategy game tournament", "an escape room"),
    "social": ("a neighborhood block party", "a community festival", "a big group dinner"),
}


class Preference(NamedTuple):
    """A taste that can change: what it is about, paraphrases, options and statement templates."""

    topic: str
    paraphrases: tuple[str, ...]
    options: tuple[str, ...]
    first: tuple[str, ...]
    change: tuple[str, ...]
    questions: tuple[str, ...]


PREFERENCES = (
    Preference(
        "coffee order",
        ("morning drink", "usual cafe order"),
        (
            "oat-milk latte",
            "double espresso",
            "cold brew",
            "matcha latte",
            "chai",
            "green tea",
            "flat white",
            "black drip coffee",
        ),
        (
            "You know me, {old} every single morning. Can't function without it.",
            "Grabbed my usual {old} on the way in, the barista knows me by name now.",
        ),
        (
            "Plot twist: I've given up {old}. It's {new} now, every morning.",
            "I switched from {old} to {new} a few weeks ago and honestly I feel better.",
        ),
        ("What does {name} drink to start the day these days?", "What is {name}'s current go-to beverage at the cafe?"),
    ),
    Preference(
        "taste in music",
        ("listening taste", "favorite kind of music"),
        ("jazz", "country", "indie rock", "k-pop", "classical", "hip-hop", "folk", "synthwave"),
        ("I've had {old} on repeat all week.", "Nothing beats {old} on a long drive, seriously."),
        (
            "I'm so over {old} lately. I've been listening to nothing but {new}.",
            "Weird thing: I barely listen to {old} anymore. It's all {new} now.",
        ),
        ("What kind of music is {name} into at the moment?", "Which genre has {name} been listening to most recently?"),
    ),
    Preference(
        "favorite food",
        ("favorite cuisine", "go-to takeout"),
        (
            "Thai food",
            "Mexican food",
            "Ethiopian food",
            "sushi",
            "Neapolitan pizza",
            "Indian curries",
            "ramen",
            "Lebanese food",
        ),
        ("If it were up to me we'd have {old} every night.", "Ordered {old} again. I'm a creature of habit."),
        (
            "I think I've burned out on {old}. {new_cap} is my new obsession.",
            "These days I'd pick {new} over {old} any night of the week.",
        ),
        ("What kind of meal does {name} crave most nowadays?", "Which cuisine has become {name}'s favorite recently?"),
    ),
    Preference(
        "taste in books",
        ("reading taste", "favorite kind of book"),
        (
            "thrillers",
            "fantasy novels",
            "historical fiction",
            "science fiction",
            "memoirs",
            "romance novels",
            "poetry",
            "true crime",
        ),
        (
            "I can't put down {old}. Stayed up way too late reading again.",
            "My nightstand is nothing but {old} right now.",
        ),
        (
            "I've drifted away from {old}; I'm all about {new} now.",
            "Funny, I used to only read {old}, but lately it's {new}.",
        ),
        ("What sort of books does {name} prefer at this point?", "What has {name} switched to reading?"),
    ),
    Preference(
        "workout routine",
        ("exercise routine", "way of staying fit"),
        (
            "spin classes",
            "weightlifting",
            "pilates",
            "morning runs",
            "kickboxing",
            "rowing",
            "barre classes",
            "lap swimming",
        ),
        ("{old_cap} three times a week keeps me sane.", "Did {old} again this morning, I'm hooked."),
        ("I quit {old}. Started {new} instead and I love it.", "I've swapped {old} for {new}; my body thanks me."),
        ("What form of exercise does {name} do now?", "How does {name} keep in shape these days?"),
    ),
)

KID_EVENTS = (
    ("lost a first tooth", "had a baby tooth fall out"),
    ("started kindergarten", "began school"),
    ("made the soccer team", "earned a spot on a sports team"),
    ("learned to ride a bike", "figured out cycling without training wheels"),
    ("got the lead in the school play", "was cast in a starring role"),
    ("won the spelling bee", "came first in a spelling contest"),
    ("scored a goal at the weekend game", "found the net in a match"),
    ("built a volcano for the science fair", "made an erupting model for a school exhibition"),
)
PARTNER_SURPRISES = (
    "breakfast in bed",
    "tickets to a comedy show",
    "a homemade curry",
    "a picnic by the lake",
    "a weekend at a cabin",
    "a candlelit dinner",
    "a day at the spa",
    "a sunrise hike",
)
NEW_HOME_FEATURES = (
    "a tiny balcony",
    "a real backyard",
    "a view of the river",
    "a wood-burning fireplace",
    "a huge kitchen",
    "a spare room for guests",
    "a porch swing",
)
MOVE_REASONS = (
    "We want to be closer to family.",
    "Rent here has gotten ridiculous.",
    "We've wanted a change of scenery for years.",
    "The commute was killing me.",
    "It's a fresh start, and I think I need one.",
)
SWITCH_REASONS = (
    ("the hours were wearing me down", "the hours were wearing {obj} down"),
    ("I wanted something closer to home", "{subj} wanted something closer to home"),
    ("the offer was too good to pass up", "the offer was too good to pass up"),
    ("I'd been burned out for months", "{subj} had been burned out for months"),
    ("I wanted to learn something new", "{subj} wanted to learn something new"),
)
"""Why someone changes jobs: as they say it, and as a third-person template."""

SMALL_TALK = (
    (
        "Did you catch the game last night? I was yelling at the TV the whole fourth quarter.",
        "Only the second half, but what a finish! I couldn't believe that last-second shot.",
    ),
    (
        "The weather has been so weird this week. I've needed sunglasses and an umbrella on the same day.",
        "Right? Sun one minute, hail the next. I've given up on planning anything outdoors.",
    ),
    (
        "Have you watched anything good lately? I've run out of shows and I'm desperate.",
        "I started a baking competition show. Weirdly addictive, and now I want to bake constantly.",
    ),
    (
        "I need a new book to read, any ideas? Something light would be perfect right now.",
        "Anything by that author you lent me last year, honestly. Her new one is even funnier.",
    ),
    (
        "My phone screen cracked again. It slipped out of my pocket getting off the bus.",
        "Oh no, third time this year? You might need one of those rugged cases.",
    ),
    (
        "Traffic was a nightmare this morning. It took me an hour to go ten miles.",
        "Ugh, is it the bridge construction again? I've started leaving way earlier because of it.",
    ),
    (
        "I've been trying to drink more water, but I keep forgetting until the evening.",
        "Same. I bought one of those giant bottles with the time markers and it actually helps.",
    ),
    (
        "Any plans for the long weekend? I feel like I should do something, but I'm so tired.",
        "Not yet! Probably just sleeping in and cooking something nice. That sounds perfect to me.",
    ),
    (
        "I finally cleaned out my closet and took three bags to the donation center.",
        "That feels so good, doesn't it? I need to do the same before I can close my wardrobe again.",
    ),
    (
        "I keep seeing ads for marathons everywhere. My phone must think I'm an athlete.",
        "The algorithm knows you too well. Mine keeps showing me standing desks.",
    ),
    (
        "I saw the cutest dog at the park today. It was wearing a tiny yellow raincoat.",
        "Did you ask to pet it? I always do, and the owners never seem to mind.",
    ),
    (
        "My internet has been so slow this week. Video calls keep freezing at the worst moment.",
        "Have you tried turning it off and on again? Ha. Seriously though, call the provider.",
    ),
    (
        "I tried that new taco place downtown. The line went around the block.",
        "Was it worth the hype? Everyone at work keeps talking about it.",
    ),
    (
        "I'm so tired today, I slept terribly because of the heat.",
        "Ugh, I hate that. Coffee helps a little, and a fan pointed right at the bed helps more.",
    ),
    (
        "Have you ever tried meditating? A friend keeps telling me it changed her life.",
        "A couple of times. My mind wanders way too much, but the breathing part was nice.",
    ),
    (
        "I can't believe how fast this year is going. It feels like it was January last week.",
        "Seriously. The older I get, the faster the months fly by.",
    ),
    (
        "My neighbor's renovation starts at 7 a.m. every single day, including Saturdays.",
        "That would drive me up the wall. I hope they're at least almost done.",
    ),
    (
        "I've been thinking about learning to cook more instead of ordering in all the time.",
        "You should! Start with one dish you love and make it until you don't need the recipe.",
    ),
    (
        "I finally fixed the squeaky door in my hallway. Took me a whole year to get around to it.",
        "Look at you, so handy! A little oil fixes so many things.",
    ),
    (
        "My plants are not doing well this month. The leaves keep turning yellow.",
        "Maybe they need more light? Or less water; I drowned all of mine the first year.",
    ),
    (
        "Are you still doing that word puzzle every morning with your coffee?",
        "Every day! My streak is over a hundred now and I refuse to break it.",
    ),
    (
        "I went to a friend's wedding on Saturday. The speeches had everyone in tears.",
        "Aw, how was it otherwise? Lots of dancing? I love a good wedding dance floor.",
    ),
    (
        "I'm thinking about painting my living room. The beige is making me sad.",
        "Ooh, a deep green would look amazing in there with your plants.",
    ),
    (
        "I binge-watched a whole season last night and went to bed at three.",
        "No regrets, right? Though I bet this morning was rough.",
    ),
    (
        "Gas prices are wild right now. I winced at the pump yesterday.",
        "I know. I've been biking to the store more because of it, which is good exercise anyway.",
    ),
    (
        "Did you hear about the new museum opening downtown? It's all about maps.",
        "Yes! I want to go once the crowds die down. Maybe on a weekday afternoon.",
    ),
    (
        "I've been getting into podcasts on my commute. It makes the train ride fly by.",
        "Any favorites? I need recommendations; I've listened to everything on my list.",
    ),
    (
        "My laptop is on its last legs. The fan sounds like a jet engine.",
        "Time for an upgrade maybe? Back everything up before it dies, just in case.",
    ),
    (
        "We had a power outage for three hours yesterday evening.",
        "That's rough. Candles and board games? That's what we did the last time.",
    ),
    (
        "I'm trying to spend less time scrolling on my phone before bed.",
        "Same here. It's harder than it sounds. I put mine in the kitchen overnight now.",
    ),
    (
        "I had the strangest dream last night. I was late for an exam in a school I never went to.",
        "Ha, I get that one too! Apparently it's one of the most common dreams.",
    ),
    (
        "There's a farmers market near me now, every Sunday morning in the church parking lot.",
        "Lucky! Fresh bread every weekend. I'd go just for the pastries.",
    ),
    (
        "I think I'm finally getting the cold that everyone at work has had.",
        "Oh no, rest up and drink lots of tea with honey. Don't push through it.",
    ),
    (
        "My car needs new tires already. I only replaced them two years ago.",
        "Ugh, those are never cheap. Maybe check if they're still under warranty?",
    ),
    (
        "I started journaling before bed. Just a few lines about the day.",
        "Is it helping you sleep? I've heard it clears your head.",
    ),
    (
        "I'm trying to learn a few words in a new language, just five minutes a day.",
        "That's fun, which app are you using? I keep meaning to pick up my old lessons.",
    ),
    (
        "I reorganized the whole kitchen on Sunday and now I can't find anything.",
        "Classic. It takes a week before the new system makes sense, then you'll love it.",
    ),
    (
        "The grocery store near me changed its layout and I wandered around for twenty minutes.",
        "They do that on purpose so you buy more snacks. It works on me every time.",
    ),
    (
        "Someone in my building keeps leaving packages in the hallway for days.",
        "That would bother me too. Maybe leave a friendly note by the mailboxes?",
    ),
    (
        "I tried one of those cold showers everyone online swears by.",
        "And? I lasted about four seconds the one time I tried.",
    ),
    (
        "I finally watched that documentary about deep-sea creatures you told me about.",
        "Wasn't it wild? The glowing squid part still gives me chills.",
    ),
    (
        "My coffee maker died this morning, right when I needed it most.",
        "The universe has a sense of humor. Did you survive the morning?",
    ),
    (
        "I spent way too long choosing a paint color for the bathroom.",
        "Did you go with the safe white or something bold in the end?",
    ),
    (
        "I've been waking up at five for no reason all week.",
        "My body does that when I'm stressed. Maybe try winding down earlier?",
    ),
    (
        "There's a new bakery on my street and it smells amazing every morning.",
        "Dangerous! I'd be in there every day buying cinnamon rolls.",
    ),
    (
        "I lost my keys twice this week. Found them in the fridge the second time.",
        "Ha! That's what happens when you're carrying too much in your head.",
    ),
    (
        "The city finally fixed the giant pothole at the end of my road.",
        "A miracle! It only took them, what, a year?",
    ),
    (
        "I've been rereading my favorite childhood book before bed.",
        "That sounds so comforting. Does it hold up?",
    ),
    (
        "My upstairs neighbor has taken up the drums. At night.",
        "Oh no. Earplugs, and maybe a very polite conversation.",
    ),
    (
        "I signed up for a newsletter by accident and now I get ten emails a day.",
        "The unsubscribe link is always hidden in the tiniest font at the bottom.",
    ),
    (
        "I tried making homemade pizza dough and it turned into a brick.",
        "Did you let it rise long enough? Mine always needs way longer than the recipe says.",
    ),
    (
        "We had the first real snow of the season here, everything looked magical.",
        "I love that first snowfall. Less magical when you have to shovel it, though.",
    ),
    (
        "I watched the sunrise for the first time in ages because I couldn't sleep.",
        "Silver lining! Was it a good one at least?",
    ),
    (
        "My friend got me hooked on crossword puzzles.",
        "Oh, they're so satisfying when you finally get the long one.",
    ),
    (
        "I'm trying to cut back on takeout, my bank account is begging me.",
        "Meal prepping on Sundays helped me a ton with that.",
    ),
    (
        "I rearranged my desk by the window and I'm so much happier working now.",
        "Natural light makes such a difference. I need to do that too.",
    ),
    (
        "I went to a trivia night and we came second to last.",
        "Second to last is basically a win. What category sank you?",
    ),
    (
        "My sister keeps sending me videos of otters holding hands.",
        "Honestly, that's the best use of the internet.",
    ),
    (
        "There was a huge thunderstorm last night and the power flickered for hours.",
        "We got it too! I gave up and went to bed early.",
    ),
    (
        "I found a twenty-dollar bill in an old jacket.",
        "The best feeling! It's like a gift from your past self.",
    ),
    (
        "I finally got around to fixing my bike's flat tire.",
        "Nice! Now you've got no excuse not to ride.",
    ),
    (
        "I bought a new pillow and I slept like a rock.",
        "It's amazing how much difference a pillow makes.",
    ),
    (
        "I've been trying to keep my inbox at zero. It lasted a day.",
        "One day is a victory. I'm at four thousand unread.",
    ),
    (
        "My local cafe remembered my name today and I felt so fancy.",
        "That's when you know you're a regular!",
    ),
    (
        "I spent the whole evening sorting old photos on my phone.",
        "Did you find anything embarrassing? I always do.",
    ),
    (
        "I started a jigsaw puzzle and the cat keeps stealing pieces.",
        "Ha! Puzzles and pets do not mix.",
    ),
    (
        "It was so windy today my umbrella turned inside out.",
        "Umbrellas are useless in wind. A good hood is the way.",
    ),
    (
        "I tried a new route on my commute and found a tiny park.",
        "I love discovering hidden spots like that.",
    ),
    (
        "I accidentally dyed all my socks pink in the wash.",
        "Ha! Now you have a signature look.",
    ),
    (
        "I've been obsessed with a new mystery show lately.",
        "Don't spoil it, I might start it this weekend.",
    ),
)

GREETINGS = (
    "Hey {other}! How's it going? It feels like ages since we last talked.",
    "Hi {other}! It's been a little while. How are things with you?",
    "{other}! Got a minute to catch up? I've been meaning to message you all week.",
    "Hey {other}, hope your week is going well! Mine has been a whirlwind.",
    "Good to hear from you, {other}! I was just thinking about you yesterday.",
)
GREETING_REPLIES = (
    "Hey {other}! Busy but good, thanks for asking. How about you?",
    "Hi {other}! So good to hear from you. Life has been hectic, but in a good way.",
    "Hey! Always have time for you, {other}. I just got home and made some tea.",
    "Hi {other}! Hanging in there. It's been a long week, so this is a nice break.",
)
CLOSINGS = (
    "Anyway, I should get going. It was really good to catch up, talk soon!",
    "I have to run, but this was great. Let's not wait so long next time!",
    "Okay, dinner's calling. Thanks for chatting, it made my evening.",
    "I'll let you go now. Great catching up, as always!",
)
CLOSING_REPLIES = (
    "Bye! Take care of yourself, {other}, and keep me posted.",
    "Talk soon, {other}! Have a lovely rest of your day.",
    "Same here! Have a good one, and say hi to everyone for me.",
    "Always a pleasure. Bye for now, {other}!",
)
BRIDGES = (
    "What about you, {other}? Anything new since we last talked?",
    "Anyway, anything new with you, {other}? I feel like I've been doing all the talking.",
    "How about you, {other}? How have things been?",
    "Anyway, how have things been on your end lately?",
    "So what's new with you, {other}? Tell me everything.",
)
ELABORATIONS = {
    "job": (
        "It's been nonstop, but I'm learning a lot.",
        "My coffee intake has doubled, honestly.",
        "Some days I love it, some days I just want a nap.",
    ),
    "switch": (
        "I was nervous all weekend before the first day.",
        "Everyone there has been really welcoming so far.",
        "It feels like a fresh start.",
    ),
    "home": (
        "I really can't imagine living anywhere else right now.",
        "Every season here has its own charm.",
        "It still feels like home every time I come back from a trip.",
    ),
    "move": (
        "Packing up my whole life is overwhelming, though.",
        "I'm excited and terrified in equal measure.",
        "I already started a list of things to sell before I go.",
    ),
    "pet": (
        "The first few nights were a bit chaotic, but we're figuring it out.",
        "I didn't know something so small could take up so much of my heart.",
        "My whole schedule revolves around walks and naps now.",
    ),
    "old_pet": ("I swear that animal runs the household.", "Honestly, I wouldn't have it any other way."),
    "race": (
        "I trained for months for this one.",
        "The last stretch was pure willpower.",
        "The crowd cheering at the end made it all worth it.",
    ),
    "course": (
        "I've wanted to try something like this for years.",
        "Everyone else seems so talented, but I'm having fun.",
        "It's nice to be a beginner at something again.",
    ),
    "gift": (
        "It was exactly what I needed.",
        "I still can't believe they remembered I wanted one.",
        "It's honestly the nicest thing anyone has given me in a long time.",
    ),
    "family": ("My heart is so full.", "These little moments are the best.", "I'm still smiling about it."),
    "pref": ("Some things never change, I guess.", "It's become part of my daily routine."),
    "pref_change": ("I didn't see that coming either.", "My old self would be shocked."),
    "hobby": (
        "It's the best way I know to clear my head.",
        "I lose track of time completely when I'm doing it.",
        "It keeps me sane between busy weeks.",
    ),
}
"""Second sentences that often follow a persona's news, by kind of news."""

SUPPORT = (
    "You deserve it.",
    "I'm so happy for you.",
    "You'll have to tell me everything next time.",
    "Seriously, that made my day.",
    "You've been working toward that for a while.",
    "I love hearing good news like this.",
)
"""Second sentences that sometimes follow a reaction."""

REACTIONS = (
    "That's awesome, {other}!",
    "Wow, good for you!",
    "No way! That's great.",
    "Love that for you.",
    "Oh nice, how exciting!",
    "That's so cool. Tell me more sometime!",
    "Ha, I love hearing that.",
    "That sounds amazing, {other}.",
)
DISTRACTOR_REACTIONS = (
    "Ha, good for them! Tell them I said congrats.",
    "Oh nice, that sounds like a big deal for them.",
    "Huh, I didn't know that. Good for them, honestly.",
    "That's wild. I can't keep up with everyone's news.",
    "Sounds just like them, honestly. Always up to something.",
)

NEVER_SAID = (
    "What did {name} name {poss} horse?",
    "Where did {name} go skydiving?",
    "Which car did {name} buy last spring?",
    "What tattoo did {name} get?",
    "Which award did {name} receive at the company gala?",
    "How much did {name} win in the lottery?",
    "What did {name} name {poss} sailboat?",
    "Which podcast did {name} launch?",
    "Which mountain did {name} summit in the Himalayas?",
    "What did {name} bake for the neighborhood pie contest?",
)

ASSISTANT_OPENERS = (
    "Great question!",
    "Happy to help with that.",
    "Sure thing, here are some thoughts.",
    "Absolutely, let's work through it.",
    "That's a lovely thing to plan for.",
)
ASSISTANT_CLOSERS = (
    "Let me know if you'd like me to go into more detail on any of these.",
    "I hope that helps, and feel free to ask follow-up questions.",
    "If you tell me more about your situation, I can tailor these suggestions.",
    "Would you like a short checklist version of this?",
)
ASSISTANT_ADVICE = {
    "trip": (
        "Consider buying a transit pass on the first day; it usually pays for itself quickly.",
        "Try to schedule one unplanned afternoon, because the best discoveries often happen when you wander.",
        "Local markets are a great way to taste regional food without spending much.",
        "Keep digital and paper copies of your bookings in case your phone battery dies.",
        "Walking tours, even free ones, give you a quick overview of the history and neighborhoods.",
        "Jet lag is easier if you get sunlight in the morning and avoid long naps on day one.",
        "A light rain jacket and comfortable shoes will cover most surprises.",
    ),
    "race": (
        "In the days after a long race, gentle movement such as walking or easy cycling speeds recovery.",
        "Prioritize protein and carbohydrates in the first hours after finishing.",
        "Most runners benefit from a full easy week before returning to hard workouts.",
        "Sleep is the most underrated recovery tool, so aim for an extra hour if you can.",
        "If anything feels sharp rather than sore, it is worth getting checked by a physiotherapist.",
        "Reflect on your pacing while it is fresh: note where you felt strong and where you faded.",
    ),
    "pet": (
        "The first weeks are about routine: regular meals, walks or play, and a quiet place to rest.",
        "Schedule a vet check-up early to sort out vaccinations and a microchip.",
        "Positive reinforcement with small treats works far better than scolding.",
        "Pet-proof cables and houseplants, since young animals explore with their mouths.",
        "Introduce new people and places gradually so that your pet builds confidence.",
        "Keep a small notebook of feeding times and any symptoms; vets find that very useful.",
    ),
    "job": (
        "In a new role, the first ninety days are a good time to listen and learn how decisions get made.",
        "Schedule short one-on-ones with your closest colleagues to understand their priorities.",
        "Write down questions as they come up and batch them for your manager.",
        "Set boundaries early on email and working hours; it is harder to change habits later.",
        "Keep a simple log of wins and lessons, which helps a lot at review time.",
    ),
    "move": (
        "Pack an open-first box with chargers, toiletries, a kettle and a change of clothes.",
        "Update your address with banks, insurance and subscriptions a couple of weeks ahead.",
        "Label boxes by room and by priority so that unpacking goes in a sensible order.",
        "Walk around the new neighborhood early on to find the grocery store, pharmacy and a good cafe.",
        "Budget for small surprises such as curtains, light bulbs and a new doormat.",
    ),
    "course": (
        "Spacing practice into short, regular sessions beats one long cram session.",
        "Bring questions to each class; instructors love engaged students.",
        "Try to find a classmate to practice with between sessions.",
        "Keep a simple journal of what you learned each week to see your progress.",
        "Do not worry about being bad at first; early mistakes are how skills form.",
    ),
    "gift": (
        "A short thank-you note, even a text with a photo of you using the gift, means a lot.",
        "If it is something technical, the manufacturer's getting-started guide is worth ten minutes.",
        "Registering the product can make warranty claims much easier later.",
        "Using a gift soon after receiving it is the nicest way to show you appreciate it.",
    ),
    "home": (
        "Check the city's events calendar; libraries and parks often host free weekend events.",
        "A self-guided walk through a neighborhood you rarely visit can feel like a small trip.",
        "Farmers markets are great for a slow Saturday morning.",
        "Look for a local hiking or cycling group if you want company outdoors.",
        "Small museums often have late openings with fewer crowds.",
    ),
    "family": (
        "A handwritten note saying specifically what you appreciated goes a long way.",
        "Plan a low-key surprise of your own, built around something they love.",
        "Sometimes the best gift is taking a chore off someone's plate for a week.",
        "Celebrating small milestones together builds lovely family traditions.",
        "Printed photos of the moment make a thoughtful keepsake.",
    ),
    "pref": (
        "Exploring neighboring styles is a good way to find new favorites without losing what you love.",
        "Keep a short list of things you enjoyed and why; patterns emerge quickly.",
        "Independent shops and small venues are often the best places for recommendations.",
        "Tastes naturally shift over time, so it is worth revisiting things you once disliked.",
        "Mixing in one new option a week keeps things interesting.",
    ),
    "hobby": (
        "Set one small, specific goal for the next month.",
        "Keeping a rough log of your sessions helps you notice progress.",
        "Joining a club or class adds accountability and new friends.",
        "Rest days matter; skills often settle in when you take a break.",
        "Watching how experienced people do it can unlock a lot.",
    ),
    "generic": (
        "It helps to break the task into small steps and tackle the easiest one first.",
        "Many people find that writing things down reduces stress considerably.",
        "There is no single right answer here, so pick the option that fits your routine.",
        "If you are unsure, try a small experiment for a week and see how it feels.",
        "Consistency matters more than intensity for most habits.",
        "It is worth asking friends who have done something similar for their experience.",
        "A realistic plan you follow is better than a perfect plan you abandon.",
        "Remember to leave a little buffer in your schedule for the unexpected.",
    ),
}
ASSISTANT_REQUESTS = {
    "trip": ("Any tips for recovering from the travel?", "What should I do differently on my next trip?"),
    "race": ("How should I recover this week?", "Any advice for training for the next one?"),
    "pet": ("What should I focus on in the first few weeks?", "Any tips for settling in a new pet?"),
    "job": ("How do I make a good impression early on?", "Any advice for the first few months?"),
    "move": ("Can you help me plan the move?", "What should I do first after moving?"),
    "course": ("How can I get the most out of it?", "Any tips for learning faster?"),
    "gift": ("How should I thank them?", "Any tips for getting started with it?"),
    "home": ("Any ideas for things to do around town this weekend?", "Can you suggest a few local outings?"),
    "family": ("How can I return the favor?", "Any ideas for something nice to do in return?"),
    "pref": ("Any suggestions for something similar I might like?", "What else might I enjoy along those lines?"),
    "hobby": ("How can I keep improving?", "Any tips for getting better at it?"),
    "generic": ("What do you think?", "Any advice?", "Can you help me think this through?"),
}
FILLER_REQUESTS = (
    (
        "Can you explain how compound interest works in simple terms?",
        (
            "Compound interest means you earn interest on your interest, not just on the money you put in.",
            "If you save 1,000 at 5% a year, you have 1,050 after one year and 1,102.50 after two.",
            "The longer the money stays invested, the faster it grows, which is why starting early matters.",
        ),
    ),
    (
        "Give me a quick weeknight dinner idea with chickpeas.",
        (
            "Try a chickpea and spinach curry: fry an onion with garlic, ginger and curry powder.",
            "Add a tin of chopped tomatoes and a tin of drained chickpeas, simmer ten minutes, then stir in spinach.",
            "Serve it with rice or flatbread, and finish with a squeeze of lemon.",
        ),
    ),
    (
        "How do I get a coffee stain out of a white shirt?",
        (
            "Rinse the stain from the back with cold water as soon as you can.",
            "Rub in a little liquid laundry detergent and let it sit for ten minutes.",
            "For an old stain, soak the shirt in an oxygen-based bleach solution before washing.",
        ),
    ),
    (
        "What's a good way to remember people's names?",
        (
            "Repeat the name back when you are introduced, as in 'Nice to meet you, Sam.'",
            "Link the name to a vivid image or to someone else you know with the same name.",
            "Use it once more before the conversation ends, and write it down afterwards if it matters.",
        ),
    ),
    (
        "Can you suggest a stretching routine for after sitting all day?",
        (
            "Start with a standing hip-flexor stretch, thirty seconds per side.",
            "Follow with a doorway chest stretch and slow neck rolls.",
            "Finish with a forward fold and a few cat-cow movements on the floor.",
        ),
    ),
    (
        "How long should I boil an egg for a jammy yolk?",
        (
            "Lower the egg into water that is already boiling and cook it for six and a half to seven minutes.",
            "Move it straight into ice water for a couple of minutes so that it stops cooking.",
            "Peel it under running water; slightly older eggs peel more easily.",
        ),
    ),
    (
        "Help me write a polite email declining a meeting.",
        (
            "Here is a short draft: 'Thank you for the invitation. Unfortunately I can't attend on Thursday.'",
            "Add an alternative if you can: 'Could you share the notes afterwards, or could we find another time?'",
            "Close warmly: 'I appreciate you including me, and I look forward to catching up soon.'",
        ),
    ),
    (
        "What are some good indoor plants for low light?",
        (
            "Snake plants, ZZ plants and pothos all tolerate low light well.",
            "Peace lilies also manage in dim rooms and droop visibly when they need water.",
            "Water all of them sparingly, since low light means they use less.",
        ),
    ),
    (
        "How do I make my phone battery last longer?",
        (
            "Lower the screen brightness and shorten the auto-lock time.",
            "Turn off background refresh for apps you rarely use.",
            "Avoid leaving the phone in heat, and keep the charge between roughly 20% and 80% when you can.",
        ),
    ),
    (
        "What's the difference between baking soda and baking powder?",
        (
            "Baking soda is pure sodium bicarbonate and needs an acid, such as buttermilk or lemon, to react.",
            "Baking powder already contains an acid, so it only needs moisture and heat.",
            "Recipes with acidic ingredients often use soda; neutral ones tend to use powder.",
        ),
    ),
    (
        "Can you recommend a simple budgeting method?",
        (
            "The 50/30/20 rule is an easy start: 50% for needs, 30% for wants and 20% for savings or debt.",
            "Track a month of spending first so that the numbers are realistic.",
            "Automate the savings transfer on payday so you never have to decide.",
        ),
    ),
    (
        "How do I fall asleep faster?",
        (
            "Keep the same wake-up time every day, even at weekends.",
            "Dim the lights and put screens away for the last half hour before bed.",
            "If you cannot sleep after twenty minutes, get up and read something dull until you feel drowsy.",
        ),
    ),
    (
        "What are some fun things to do on a rainy Sunday?",
        (
            "Try a new recipe that takes all afternoon, like a slow braise or homemade pasta.",
            "Start a jigsaw puzzle or a board game marathon.",
            "Visit a museum or a library you have never been to.",
        ),
    ),
    (
        "Give me three questions to ask at the end of an interview.",
        (
            "Ask what success would look like in the first six months.",
            "Ask what the biggest challenge facing the team is right now.",
            "Ask how the team usually gives and receives feedback.",
        ),
    ),
    (
        "How often should I water succulents?",
        (
            "Water deeply, then wait until the soil is completely dry before watering again.",
            "In summer that might be every week or two; in winter, once a month is often enough.",
            "Make sure the pot drains well, because soggy roots are the most common problem.",
        ),
    ),
    (
        "What's a good beginner strength workout at home?",
        (
            "Do three rounds of ten squats, eight push-ups (on your knees is fine), and ten glute bridges.",
            "Add a thirty-second plank at the end of each round.",
            "Rest a minute between rounds and add repetitions when it starts to feel easy.",
        ),
    ),
)
