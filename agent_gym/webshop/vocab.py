"""Word lists of the project's catalog generator (product types, attributes, options).

Everything here is written for agent-gym; none of it comes from the official
WebShop catalog. Each :class:`ProductType` names its top-level ``category``
(the env's ``task_type``), the Amazon-style category path, the search ``query``
it belongs to, the noun used in titles, an attribute pool and option groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COLORS = (
    "black",
    "white",
    "navy blue",
    "red",
    "pink",
    "beige",
    "grey",
    "green",
    "purple",
    "brown",
    "gold",
    "silver",
    "ivory",
    "teal",
    "burgundy",
    "yellow",
    "orange",
    "khaki",
)
APPAREL_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large")
SHOE_SIZES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12")
VOLUMES = ("1 fl oz", "2 fl oz", "3.4 fl oz", "8 fl oz", "16 fl oz")
WEIGHTS = ("4 ounce", "8 ounce", "12 ounce", "1 pound", "2 pound", "5 pound")
PACKS = ("pack of 1", "pack of 2", "pack of 3", "pack of 6", "pack of 12", "pack of 24")
FLAVORS = ("vanilla", "chocolate", "strawberry", "mint", "caramel", "lemon", "original", "cinnamon", "honey")
SCENTS = ("lavender", "unscented", "rose", "eucalyptus", "citrus", "coconut", "sandalwood", "jasmine")
BED_SIZES = ("twin", "full", "queen", "king", "california king")
CAPACITIES = ("32gb", "64gb", "128gb", "256gb", "512gb")
LENGTHS = ("3 ft", "6 ft", "10 ft", "15 ft")
MATERIALS = ("oak", "walnut", "pine", "bamboo", "metal", "glass", "marble")
STYLES = ("modern", "classic", "rustic", "minimalist", "vintage")
PET_SIZES = ("small breed", "medium breed", "large breed")
AGES = ("ages 3-5", "ages 6-8", "ages 9-12", "teens")

BRANDS = (
    "Aldora",
    "Brevik",
    "Calloway",
    "Dunmore",
    "Everlane Co",
    "Fennic",
    "Glimmerly",
    "Harbor & Pine",
    "Ivoro",
    "Jasperline",
    "Kestrel",
    "Lumora",
    "Marisol",
    "Northvale",
    "Oakhurst",
    "Pellucid",
    "Quillon",
    "Rivermark",
    "Solenne",
    "Tavistock",
    "Umbra Works",
    "Velmont",
    "Westbrook",
    "Xandria",
    "Yarrowby",
    "Zephyra",
    "Arcline",
    "Bellwether",
    "Cobaltine",
    "Driftwood Lane",
)

#: Filler phrases for descriptions.
DESCRIPTION_OPENERS = (
    "Designed for everyday use, this {noun} combines quality and value.",
    "Meet the {noun} that customers keep coming back to.",
    "Upgrade your routine with a {noun} built to last.",
    "A thoughtfully made {noun} for home, work and travel.",
    "Our best-selling {noun}, refined with customer feedback.",
)
DESCRIPTION_CLOSERS = (
    "Backed by a 30-day satisfaction guarantee.",
    "Ships in recyclable packaging.",
    "Makes a great gift for friends and family.",
    "Easy to clean and simple to store.",
    "Tested for quality before it leaves our warehouse.",
)
REVIEW_TEXTS = (
    "Exactly as described, would buy again.",
    "Good value for the price.",
    "Arrived quickly and works well.",
    "Quality is better than I expected.",
    "Decent, but the packaging could be better.",
    "My second one, still happy with it.",
)


@dataclass(frozen=True)
class ProductType:
    """One kind of product the generator makes."""

    category: str
    path: str
    query: str
    noun: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)
    price: tuple[float, float] = (5.0, 60.0)


def _t(category, path, query, noun, attributes, options=None, price=(5.0, 60.0)) -> ProductType:
    return ProductType(category, path, query, noun, tuple(attributes), dict(options or {}), price)


PRODUCT_TYPES: tuple[ProductType, ...] = (
    # beauty
    _t(
        "beauty",
        "Beauty & Personal Care › Makeup › Lips › Lipstick",
        "lipstick",
        "lipstick",
        [
            "long lasting",
            "cruelty free",
            "matte finish",
            "vegan",
            "moisturizing",
            "paraben free",
            "waterproof",
            "highly pigmented",
        ],
        {"color": COLORS[2:16]},
        (6, 35),
    ),
    _t(
        "beauty",
        "Beauty & Personal Care › Hair Care › Shampoo",
        "shampoo",
        "shampoo",
        [
            "sulfate free",
            "paraben free",
            "natural ingredients",
            "for dry hair",
            "tea tree",
            "argan oil",
            "color safe",
            "vegan",
        ],
        {"scent": SCENTS, "size": VOLUMES},
        (5, 40),
    ),
    _t(
        "beauty",
        "Beauty & Personal Care › Skin Care › Face › Moisturizers",
        "face moisturizer",
        "moisturizer",
        [
            "hyaluronic acid",
            "fragrance free",
            "non comedogenic",
            "for sensitive skin",
            "spf 30",
            "anti aging",
            "oil free",
            "dermatologist tested",
        ],
        {"size": VOLUMES},
        (8, 70),
    ),
    _t(
        "beauty",
        "Beauty & Personal Care › Hair Care › Hair Extensions",
        "hair extension",
        "hair extension",
        ["clip in", "natural looking", "heat resistant", "human hair", "easy to apply", "long lasting", "tangle free"],
        {
            "color": ("black", "brown", "blonde", "auburn", "platinum", "dark brown"),
            "length": ("14 inch", "18 inch", "22 inch"),
        },
        (15, 90),
    ),
    # electronics
    _t(
        "electronics",
        "Electronics › Headphones › Over-Ear Headphones",
        "wireless headphones",
        "headphones",
        [
            "noise cancelling",
            "bluetooth 5.0",
            "long battery life",
            "foldable",
            "built in microphone",
            "fast charging",
            "lightweight",
        ],
        {"color": ("black", "white", "silver", "navy blue", "rose gold")},
        (20, 250),
    ),
    _t(
        "electronics",
        "Electronics › Computers & Accessories › Memory Cards",
        "memory card",
        "memory card",
        ["high speed", "waterproof", "shockproof", "with adapter", "4k video", "class 10"],
        {"capacity": CAPACITIES, "size": PACKS[:3]},
        (8, 80),
    ),
    _t(
        "electronics",
        "Electronics › Cables › USB Cables",
        "usb c cable",
        "charging cable",
        ["fast charging", "braided nylon", "durable", "data transfer", "tangle free", "60w power delivery"],
        {"length": LENGTHS, "color": ("black", "white", "grey", "red")},
        (5, 30),
    ),
    _t(
        "electronics",
        "Electronics › Computers & Accessories › Microphones",
        "usb microphone",
        "microphone",
        [
            "noise cancelling",
            "plug and play",
            "cardioid pattern",
            "with stand",
            "for podcasting",
            "mute button",
            "led indicator",
        ],
        {"color": ("black", "white", "silver")},
        (15, 150),
    ),
    _t(
        "electronics",
        "Electronics › Portable Audio › Speakers",
        "bluetooth speaker",
        "speaker",
        ["waterproof", "portable", "deep bass", "long battery life", "dustproof", "stereo pairing"],
        {"color": ("black", "teal", "red", "grey", "camo")},
        (20, 180),
    ),
    # fashion
    _t(
        "fashion",
        "Clothing, Shoes & Jewelry › Women › Clothing › Dresses",
        "women dress",
        "dress",
        ["machine wash", "short sleeve", "v neck", "polyester spandex", "floral print", "elastic waist", "pockets"],
        {"color": COLORS, "size": APPAREL_SIZES},
        (18, 80),
    ),
    _t(
        "fashion",
        "Clothing, Shoes & Jewelry › Men › Clothing › Shirts",
        "men shirt",
        "shirt",
        ["slim fit", "long sleeve", "button down", "cotton", "wrinkle free", "machine wash", "regular fit"],
        {"color": COLORS, "size": APPAREL_SIZES},
        (15, 60),
    ),
    _t(
        "fashion",
        "Clothing, Shoes & Jewelry › Men › Shoes › Running Shoes",
        "running shoes",
        "running shoes",
        ["lightweight", "breathable mesh", "non slip", "rubber sole", "arch support", "memory foam"],
        {"color": ("black", "white", "grey", "navy blue", "red", "green"), "size": SHOE_SIZES},
        (30, 140),
    ),
    _t(
        "fashion",
        "Clothing, Shoes & Jewelry › Women › Accessories › Handbags",
        "women handbag",
        "handbag",
        ["vegan leather", "adjustable strap", "zipper closure", "large capacity", "multiple pockets"],
        {"color": ("black", "brown", "beige", "burgundy", "white", "pink")},
        (20, 120),
    ),
    _t(
        "fashion",
        "Clothing, Shoes & Jewelry › Women › Clothing › Leggings",
        "yoga leggings",
        "leggings",
        ["high waist", "tummy control", "squat proof", "moisture wicking", "four way stretch", "pockets"],
        {"color": ("black", "navy blue", "grey", "burgundy", "olive", "purple"), "size": APPAREL_SIZES},
        (12, 50),
    ),
    # food
    _t(
        "food",
        "Grocery & Gourmet Food › Snacks › Protein Bars",
        "protein bars",
        "protein bar",
        ["gluten free", "low sugar", "high protein", "keto friendly", "non gmo", "plant based"],
        {"flavor": FLAVORS, "size": PACKS[1:]},
        (10, 45),
    ),
    _t(
        "food",
        "Grocery & Gourmet Food › Beverages › Coffee",
        "ground coffee",
        "coffee",
        ["medium roast", "dark roast", "organic", "fair trade", "whole bean", "single origin", "low acid"],
        {"size": WEIGHTS},
        (8, 40),
    ),
    _t(
        "food",
        "Grocery & Gourmet Food › Beverages › Tea",
        "herbal tea",
        "tea",
        ["caffeine free", "organic", "individually wrapped", "non gmo", "kosher", "sugar free"],
        {"flavor": ("chamomile", "peppermint", "ginger", "hibiscus", "green", "rooibos"), "size": PACKS},
        (4, 30),
    ),
    _t(
        "food",
        "Grocery & Gourmet Food › Pantry › Nut Butters",
        "peanut butter",
        "peanut butter",
        ["no added sugar", "creamy", "crunchy", "organic", "non gmo", "high protein", "gluten free"],
        {"size": WEIGHTS[1:5], "style": PACKS[:3]},
        (4, 25),
    ),
    # furniture / home
    _t(
        "furniture",
        "Home & Kitchen › Furniture › Living Room Furniture › Coffee Tables",
        "coffee table",
        "coffee table",
        ["easy assembly", "storage shelf", "solid wood", "mid century", "space saving", "scratch resistant"],
        {"material": MATERIALS, "style": STYLES},
        (60, 400),
    ),
    _t(
        "furniture",
        "Home & Kitchen › Furniture › Home Office Furniture › Chairs",
        "office chair",
        "office chair",
        ["ergonomic", "lumbar support", "adjustable height", "swivel", "breathable mesh", "padded armrests"],
        {"color": ("black", "grey", "white", "blue", "pink")},
        (50, 350),
    ),
    _t(
        "furniture",
        "Home & Kitchen › Bedding › Sheets & Pillowcases",
        "bed sheets",
        "sheet set",
        ["deep pocket", "breathable", "wrinkle free", "hypoallergenic", "100% cotton", "machine washable", "cooling"],
        {"size": BED_SIZES, "color": ("white", "grey", "navy blue", "ivory", "sage green", "lavender")},
        (20, 120),
    ),
    _t(
        "furniture",
        "Home & Kitchen › Furniture › Bedroom Furniture › Nightstands",
        "nightstand",
        "nightstand",
        ["with drawer", "easy assembly", "charging station", "solid wood", "small space"],
        {"color": ("white", "black", "walnut brown", "grey", "natural oak")},
        (40, 200),
    ),
    # kitchen
    _t(
        "kitchen",
        "Home & Kitchen › Kitchen & Dining › Cookware › Skillets",
        "frying pan",
        "frying pan",
        ["non stick", "dishwasher safe", "induction compatible", "oven safe", "pfoa free", "cast iron"],
        {"size": ("8 inch", "10 inch", "12 inch")},
        (15, 90),
    ),
    _t(
        "kitchen",
        "Home & Kitchen › Kitchen & Dining › Drinkware › Water Bottles",
        "water bottle",
        "water bottle",
        ["bpa free", "leak proof", "insulated", "stainless steel", "dishwasher safe", "wide mouth"],
        {
            "color": ("black", "white", "teal", "pink", "navy blue", "green"),
            "size": ("12 oz", "20 oz", "32 oz", "40 oz"),
        },
        (10, 45),
    ),
    _t(
        "kitchen",
        "Home & Kitchen › Kitchen & Dining › Storage › Food Containers",
        "food storage containers",
        "food containers",
        ["bpa free", "microwave safe", "airtight", "stackable", "freezer safe", "glass"],
        {"size": PACKS[2:]},
        (12, 60),
    ),
    # garden
    _t(
        "garden",
        "Patio, Lawn & Garden › Gardening › Planters",
        "plant pot",
        "planter",
        ["drainage hole", "ceramic", "indoor outdoor", "with saucer", "self watering", "uv resistant"],
        {"color": ("white", "black", "terracotta", "grey", "green"), "size": ("4 inch", "6 inch", "8 inch", "10 inch")},
        (10, 70),
    ),
    _t(
        "garden",
        "Patio, Lawn & Garden › Outdoor Lighting › Solar Lights",
        "solar lights",
        "solar lights",
        ["waterproof", "auto on off", "warm white", "easy installation", "dusk to dawn", "motion sensor"],
        {"size": PACKS[1:5]},
        (15, 70),
    ),
    _t(
        "garden",
        "Patio, Lawn & Garden › Gardening › Hoses",
        "garden hose",
        "garden hose",
        ["expandable", "kink free", "lightweight", "leak proof", "heavy duty", "with spray nozzle"],
        {"length": ("25 ft", "50 ft", "75 ft", "100 ft")},
        (20, 90),
    ),
    # sports
    _t(
        "sports",
        "Sports & Outdoors › Exercise & Fitness › Yoga › Mats",
        "yoga mat",
        "yoga mat",
        ["non slip", "extra thick", "eco friendly", "with carrying strap", "lightweight", "tear resistant"],
        {"color": ("purple", "black", "blue", "pink", "green", "grey")},
        (15, 80),
    ),
    _t(
        "sports",
        "Sports & Outdoors › Exercise & Fitness › Strength Training › Dumbbells",
        "dumbbells",
        "dumbbell",
        ["adjustable", "neoprene coated", "anti roll", "non slip grip", "hex shape"],
        {"size": ("5 lb", "10 lb", "15 lb", "20 lb", "25 lb")},
        (15, 200),
    ),
    _t(
        "sports",
        "Sports & Outdoors › Outdoor Recreation › Camping › Tents",
        "camping tent",
        "tent",
        ["waterproof", "easy setup", "with rainfly", "lightweight", "ventilated", "carry bag"],
        {"size": ("2 person", "4 person", "6 person", "8 person"), "color": ("green", "orange", "blue", "grey")},
        (50, 300),
    ),
    # pets
    _t(
        "pets",
        "Pet Supplies › Dogs › Food › Dry Food",
        "dog food",
        "dog food",
        ["grain free", "high protein", "real chicken", "no artificial flavors", "for sensitive stomach", "made in usa"],
        {"size": WEIGHTS[3:], "style": PET_SIZES},
        (15, 90),
    ),
    _t(
        "pets",
        "Pet Supplies › Cats › Litter & Housebreaking › Litter",
        "cat litter",
        "cat litter",
        ["clumping", "odor control", "low dust", "unscented", "lightweight", "flushable"],
        {"size": ("10 lb", "20 lb", "40 lb")},
        (10, 45),
    ),
    _t(
        "pets",
        "Pet Supplies › Dogs › Beds & Furniture › Beds",
        "dog bed",
        "dog bed",
        ["orthopedic", "washable cover", "non slip bottom", "memory foam", "waterproof liner"],
        {"size": ("small", "medium", "large", "x-large"), "color": ("grey", "brown", "navy blue", "beige")},
        (20, 130),
    ),
    # toys
    _t(
        "toys",
        "Toys & Games › Building Toys › Building Sets",
        "building blocks",
        "building set",
        ["stem toy", "compatible with major brands", "storage box", "creative play", "non toxic"],
        {"size": AGES},
        (15, 90),
    ),
    _t(
        "toys",
        "Toys & Games › Puzzles › Jigsaw Puzzles",
        "jigsaw puzzle",
        "jigsaw puzzle",
        ["1000 pieces", "thick pieces", "glare free", "includes poster", "family game"],
        {"style": ("landscape", "animals", "city", "art", "floral")},
        (10, 35),
    ),
    _t(
        "toys",
        "Toys & Games › Plush Toys › Stuffed Animals",
        "stuffed animal",
        "plush toy",
        ["super soft", "hypoallergenic", "machine washable", "safe for toddlers", "gift box"],
        {"style": ("bear", "bunny", "unicorn", "dinosaur", "elephant"), "size": ("8 inch", "12 inch", "18 inch")},
        (8, 40),
    ),
)

#: Opening phrases of generated instructions (WebShop's synthetic instructions read similarly).
INSTRUCTION_OPENERS = (
    "i need {query} that is {attrs}",
    "i'm looking for {query} which is {attrs}",
    "find me {query} with {attrs}",
    "i want to buy {query} that is {attrs}",
    "i am looking for {attrs} {query}",
)
