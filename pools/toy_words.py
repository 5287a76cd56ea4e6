"""Word lists for the toy language (pools/toy_grammar.py, pools/toy_defects.py), written for dcbench.

Plain space-separated strings keep the lists compact; `words()` splits them.
Verbs are base forms: a trailing `+` marks a doubled final consonant
(stop+ -> stopped, stopping); irregular forms are listed in IRREGULAR.
"""

from __future__ import annotations


def words(s: str) -> tuple[str, ...]:
    return tuple(s.split())


# ------------------------------------------------------------ ordinary web prose

# Everyday topics of ordinary pages (blogs, reviews, local news, forums).
TOPICS: dict[str, str] = {
    "cooking": """recipe kitchen oven pan skillet pot bowl spoon knife onion garlic tomato potato carrot
        pepper butter flour sugar salt egg cheese bread dough sauce soup stew salad chicken beef pork rice
        pasta noodle lemon herb basil parsley cinnamon vanilla chocolate cookie cake pie muffin pancake batter
        crust marinade broth casserole grill dinner lunch breakfast leftover ingredient spice vinegar yogurt
        cream apron tray whisk ladle blender freezer fridge pantry jar lid mushroom zucchini cabbage""",
    "gardening": """garden seed soil compost shovel rake hose mulch weed root leaf stem flower rose tulip daisy
        shrub hedge lawn grass fence trellis greenhouse seedling sprout bulb planter fertilizer worm bee
        butterfly aphid pest squash cucumber lettuce spinach kale bean pea pumpkin harvest orchard vine blossom
        pruner wheelbarrow sunflower raspberry strawberry blueberry bush sapling gravel path bench pond frog
        snail slug beetle tomato marigold lavender thyme mint hedgehog""",
    "travel": """trip airport flight ticket passport luggage suitcase hotel hostel beach island harbor museum
        cathedral bridge market street square cafe train station bus ferry map guide tour itinerary border
        village city coast mountain valley lake castle ruin souvenir postcard backpack camera booking
        reservation receptionist taxi driver tourist visitor view sunset balcony terrace lighthouse pier
        promenade gallery fountain alley boulevard inn cottage cabin cruise deck""",
    "sports": """game match team coach player season league score goal ball field court stadium referee fan
        jersey tournament championship practice drill pitch bat glove racket net helmet inning quarter
        tackle pass shot sprint marathon race runner swimmer cyclist lap finish trophy medal rival defense
        offense whistle locker scoreboard sideline rookie veteran captain roster playoff bench stretch
        warmup kickoff header corner penalty""",
    "pets": """dog puppy cat kitten leash collar treat toy crate vet groomer fur paw tail whisker litter breed
        shelter adoption hamster rabbit parrot goldfish aquarium cage blanket walk park flea tick vaccine
        kibble bone harness kennel yard cushion scratcher feather tank pellet carrier brush nail sofa
        neighbor trainer trick""",
    "home": """house roof wall ceiling floor tile drywall paint brush roller ladder hammer nail screw drill saw
        wrench pipe faucet sink drain toilet shower bathroom basement attic window door hinge lock cabinet
        shelf deck porch gutter furnace boiler outlet wire switch insulation plumber contractor caulk grout
        primer sander closet hallway staircase railing carpet rug curtain blind mailbox driveway shed
        workbench toolbox bucket sponge""",
    "music": """song album band singer guitar piano drum violin bass chord melody lyric concert stage festival
        microphone speaker headphone record vinyl track chorus verse rhythm tempo note scale lesson teacher
        rehearsal choir orchestra tune playlist studio amplifier pedal string keyboard audience encore
        trumpet saxophone cello flute banjo harmonica metronome setlist venue drummer bassist label""",
    "cars": """car truck engine tire wheel brake clutch gear battery headlight bumper hood trunk dashboard seat
        mirror windshield wiper mechanic garage oil filter transmission mileage highway road traffic parking
        fuel tank radiator exhaust muffler steering license insurance dealership sedan wagon van pickup
        odometer spark plug belt axle jack roadtrip detour intersection""",
    "shopping": """store shop purchase order package delivery box price discount coupon receipt refund return
        warranty brand model product review rating customer seller checkout shipping gift wallet bag shoe
        jacket sweater dress shirt jeans watch charger cable lamp vacuum mattress pillow kettle toaster
        backpack umbrella sunglasses mug blanket scarf glove sneaker boot sale bargain""",
    "family": """school teacher student classroom homework lesson grade test exam project report parent child
        kid toddler baby daughter son family bedtime story book library playground lunchbox principal friend
        sister brother grandmother grandfather nap diaper crayon puzzle cousin aunt uncle birthday party
        cake balloon picnic sandbox swing slide tricycle chore allowance""",
    "fitness": """workout gym exercise muscle squat pushup plank weight dumbbell treadmill yoga mat trainer
        routine rep cardio heart breath sweat protein meal diet calorie step mile jog hike bike swim pool
        injury knee ankle shoulder posture stretch smoothie bottle sneaker stopwatch interval rowing kettlebell
        lunge sprint recovery massage foam roller""",
    "outdoors": """weather rain snow storm wind cloud sky sun morning afternoon evening night frost fog thunder
        lightning forecast temperature umbrella coat boot trail forest river creek hill meadow camp tent fire
        lantern stove canoe kayak fishing bird deer fox owl moose rock cliff campsite firewood compass ridge
        summit waterfall canyon pine oak maple birch trailhead""",
    "gadgets": """phone laptop tablet screen keyboard mouse printer router app update battery charger password
        account email message notification setting camera photo video file folder backup speaker headset
        console controller software bug feature version download webcam monitor stylus earbud smartwatch
        drive adapter cable firmware reboot""",
    "community": """town neighborhood council meeting mayor library park volunteer fundraiser fair parade
        festival church school bakery diner shop resident neighbor committee vote budget road repair bridge
        event flyer newsletter club potluck raffle booth donation pantry museum theater sidewalk crosswalk
        firehouse market garden playground ceremony""",
    "books": """book novel author chapter page plot character hero villain ending sequel series film movie
        director actor actress scene trailer theater screen popcorn critic review story poem poet library
        shelf cover title genre mystery thriller comedy drama bookstore paperback hardcover audiobook
        narrator twist romance memoir biography""",
    "crafts": """yarn needle thread fabric quilt pattern stitch sewing knitting scarf blanket button glue paper
        scissors paint canvas frame bead necklace clay pottery wheel kiln wood carving sketch pencil marker
        ribbon sticker stencil brush easel palette watercolor cardboard tape embroidery hoop loom""",
    "money": """budget bill salary paycheck bank account savings loan mortgage rent tax receipt expense income
        job office boss coworker meeting deadline email schedule shift interview resume career client project
        presentation report invoice spreadsheet raise bonus pension retirement grocery coupon subscription""",
}

GENERAL_NOUNS = words("""thing time day week month year way people person friend family life idea problem
    question answer reason moment part place home room world story experience result change choice plan mistake
    lesson habit goal detail surprise trick advice tip decision weekend holiday hour minute season side end
    start list note photo picture bit lot deal chance trouble fun mess view guy neighbor stuff corner edge
    kind sort piece pair couple number half rest top bottom front back middle way""")

ADJECTIVES = words("""good great nice small big little large old new young quick slow warm cold hot cool
    bright dark quiet loud soft hard easy simple busy early late favorite happy lucky tired hungry cheap
    expensive fresh clean dirty heavy light long short strong weak wide narrow deep shallow friendly rough
    smooth sweet bitter sour salty crispy tender huge tiny fancy plain pretty useful handy sturdy fragile
    local nearby distant rainy sunny windy cozy messy tidy spare extra whole basic perfect strange odd funny
    serious honest careful patient brave calm nervous proud excited worried curious famous popular rare
    common ordinary special typical usual amazing awesome wonderful terrible awful lovely decent solid
    reliable fair weird classic modern vintage rustic colorful golden silver wooden plastic metal green blue
    red yellow purple orange brown gray white pink gentle noisy lazy clever silly tough fine empty full
    second third quiet tall wet dry ripe stale fluffy shiny dusty""")

ADVERBS = words("""really quite very fairly rather almost nearly finally suddenly quickly slowly carefully
    easily gently quietly loudly happily sadly honestly luckily eventually actually basically usually often
    sometimes rarely never always already still just probably definitely certainly clearly simply totally
    completely mostly barely hardly recently lately soon later today yesterday together alone again twice
    once somehow instead proudly badly nicely neatly kindly calmly""")

# Transitive verbs of everyday prose.
VERBS = words("""make take get give find keep bring buy sell try use need want like love enjoy hate miss
    watch visit open close fix clean paint build cut cook bake boil fry mix pour stir+ chop+ wash dry fold
    pack carry move lift pull push drop+ pick plant water grow trim+ feed walk train call text send read
    write check order book rent borrow lend share show tell teach learn practice play sing record film repair
    replace install test measure compare choose pay spend save earn lose win finish start begin plan+
    organize prepare arrange decorate wrap+ follow join leave meet help ask thank invite welcome explore
    discover notice remember forget recommend review mention describe catch hold throw wear see hear eat
    drink drive ride sweep dig carry grab+ hug+ hang light lead chase pass serve taste smell sort wipe scrub+
    polish fill empty load unpack label guess bring borrow repaint rearrange clear collect deliver""")

# Intransitive verbs (used with a place or time phrase).
INTRANSITIVE = words("""arrive laugh smile wait rest sleep relax worry agree complain travel wander stay
    return happen appear sit stand run swim jog+ shop+ dance cheer shout hurry pause settle chat+ camp nap+
    stroll linger""")

IRREGULAR: dict[str, tuple[str, str]] = {  # base -> (past, participle)
    "make": ("made", "made"), "take": ("took", "taken"), "get": ("got", "gotten"), "give": ("gave", "given"),
    "find": ("found", "found"), "keep": ("kept", "kept"), "bring": ("brought", "brought"),
    "buy": ("bought", "bought"), "sell": ("sold", "sold"), "cut": ("cut", "cut"), "build": ("built", "built"),
    "feed": ("fed", "fed"), "grow": ("grew", "grown"), "lend": ("lent", "lent"), "pay": ("paid", "paid"),
    "spend": ("spent", "spent"), "lose": ("lost", "lost"), "win": ("won", "won"), "begin": ("began", "begun"),
    "leave": ("left", "left"), "meet": ("met", "met"), "forget": ("forgot", "forgotten"),
    "tell": ("told", "told"), "teach": ("taught", "taught"), "read": ("read", "read"),
    "write": ("wrote", "written"), "sing": ("sang", "sung"), "drive": ("drove", "driven"),
    "ride": ("rode", "ridden"), "see": ("saw", "seen"), "hear": ("heard", "heard"), "eat": ("ate", "eaten"),
    "drink": ("drank", "drunk"), "catch": ("caught", "caught"), "hold": ("held", "held"),
    "hang": ("hung", "hung"), "throw": ("threw", "thrown"), "wear": ("wore", "worn"),
    "choose": ("chose", "chosen"), "send": ("sent", "sent"), "run": ("ran", "run"), "swim": ("swam", "swum"),
    "sit": ("sat", "sat"), "stand": ("stood", "stood"), "sleep": ("slept", "slept"), "light": ("lit", "lit"),
    "lead": ("led", "led"), "sweep": ("swept", "swept"), "dig": ("dug", "dug"), "show": ("showed", "shown"),
    "undergo": ("underwent", "undergone"), "undertake": ("undertook", "undertaken"),
    "withstand": ("withstood", "withstood"), "seek": ("sought", "sought"), "bind": ("bound", "bound"),
    "split": ("split", "split"), "spread": ("spread", "spread"), "shed": ("shed", "shed"),
    "arise": ("arose", "arisen"), "lay": ("laid", "laid"), "set": ("set", "set"),
}

IRREGULAR_PLURALS = {"child": "children", "person": "people", "foot": "feet", "tooth": "teeth",
                     "mouse": "mice", "leaf": "leaves", "knife": "knives", "shelf": "shelves", "loaf": "loaves",
                     "wife": "wives", "life": "lives", "half": "halves", "man": "men", "woman": "women",
                     "goose": "geese", "fish": "fish", "deer": "deer", "moose": "moose", "sheep": "sheep",
                     "series": "series", "species": "species", "bacterium": "bacteria", "datum": "data",
                     "phenomenon": "phenomena", "criterion": "criteria", "nucleus": "nuclei",
                     "fungus": "fungi", "stratum": "strata", "mitochondrion": "mitochondria",
                     "hypothesis": "hypotheses", "analysis": "analyses", "axis": "axes", "crisis": "crises",
                     "thesis": "theses", "basis": "bases", "matrix": "matrices", "vertex": "vertices",
                     "index": "indices", "radius": "radii", "stimulus": "stimuli", "nebula": "nebulae",
                     "formula": "formulas", "roof": "roofs", "tomato": "tomatoes",
                     "potato": "potatoes", "hero": "heroes", "volcano": "volcanoes", "echo": "echoes",
                     "chief": "chiefs", "belief": "beliefs"}

FIRST_NAMES = words("""Anna Ben Clara Dan Ella Frank Grace Henry Iris Jack Kate Leo Mia Noah Olivia Paul Quinn
    Rosa Sam Tina Victor Wendy Zoe Adam Beth Carl Diana Eric Fiona George Hannah Ian Julia Kevin Laura Mark
    Nora Oscar Peter Rachel Steve Tom Uma Vera Will Amy Brian Chloe David Emma Felix Gina Hugo Irene Jonah
    Karen Luke Molly Nick Owen Pam Rita Simon Tessa Walter""")

PLACES = words("""Millbrook Ashford Riverton Oakdale Pinehurst Fairview Brookside Elmwood Kingsley Westfield
    Maplewood Cedarville Lakeside Greenfield Stonebridge Harwick Redmond Ferncliff Glenmore Thornbury
    Bayview Clearwater Hillcrest Northgate Sandford Willowby Foxley Marlow Dunmore Ravensworth""")

MONTHS = words("January February March April May June July August September October November December")
DAYS = words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")

PREPOSITIONS = words("""in on at near behind under over beside inside outside around across along past
    through toward into onto from with without""")

# Small openers for ordinary sentences; each is short so no long phrase recurs.
TIME_OPENERS = words("""Yesterday Today Later Afterwards Earlier Eventually Meanwhile Luckily Honestly
    Sadly Somehow Still Anyway Finally Then Now Once Again Usually Sometimes""")

# ------------------------------------------------------------ encyclopedic / instructional (hq style)

HQ_TOPICS: dict[str, str] = {
    "biology": """cell membrane protein enzyme gene chromosome nucleus organism species population habitat
        ecosystem predator prey chlorophyll mitochondrion ribosome tissue organ hormone receptor mutation
        adaptation pollinator fungus bacterium virus parasite metabolism nutrient glucose carbohydrate lipid
        molecule trait offspring embryo spore seedling canopy wetland estuary plankton algae larva pupa
        colony hive nectar pollen xylem phloem stomata genome allele""",
    "chemistry": """atom electron proton neutron ion bond compound element reaction catalyst solvent solution
        acid salt crystal polymer isotope oxide equilibrium concentration pressure gas liquid solid mixture
        precipitate orbital electrolyte molecule indicator reagent flask beaker burette distillate residue
        alloy metal halogen vapor lattice valence enthalpy mole""",
    "physics": """force mass energy momentum velocity acceleration friction gravity wave frequency amplitude
        wavelength radiation photon field charge current voltage resistance circuit magnet inertia torque
        pendulum lens refraction reflection entropy heat conductor insulator oscillation spring lever pulley
        projectile orbit spectrum density buoyancy vacuum""",
    "geology": """rock mineral sediment magma lava crust mantle plate fault earthquake volcano erosion glacier
        basin delta aquifer fossil stratum limestone granite basalt sandstone shale quartz feldspar canyon
        plateau landslide groundwater outcrop bedrock moraine dune floodplain tributary watershed""",
    "astronomy": """star planet moon orbit comet asteroid galaxy nebula telescope eclipse constellation
        supernova satellite atmosphere crater luminosity redshift dwarf giant observatory meteor cluster
        quasar pulsar axis solstice equinox horizon zenith""",
    "history": """empire kingdom dynasty treaty war revolution republic monarch parliament constitution colony
        trade merchant guild manuscript archive chronicle settlement frontier reform census tribute alliance
        rebellion siege harbor fortress province governor charter scribe pilgrimage caravan""",
    "economics": """market price demand supply inflation currency interest credit debt tariff labor wage
        productivity capital investment consumer producer equilibrium monopoly competition incentive revenue
        cost profit subsidy recession growth export import household firm bond dividend""",
    "computing": """algorithm structure array list tree graph node edge pointer memory processor compiler
        program function variable loop recursion query database index cache protocol network packet
        encryption key server client thread process kernel stack queue heap bit byte register""",
    "mathematics": """number integer fraction equation function variable coefficient polynomial matrix vector
        theorem proof axiom set subset sequence series limit derivative integral probability distribution
        average median angle triangle circle radius perimeter symmetry prime divisor exponent logarithm""",
    "medicine": """heart lung kidney liver blood vessel artery vein muscle bone joint nerve brain antibody
        infection vaccine symptom diagnosis treatment therapy dose patient clinician fever inflammation
        cartilage tendon ligament pulse tissue gland pancreas insulin""",
    "linguistics": """language word sentence grammar syntax morphology phoneme vowel consonant dialect
        vocabulary meaning speaker listener prefix suffix root noun verb clause tense accent alphabet script
        translation idiom syllable stress intonation inflection""",
    "engineering": """bridge beam load stress strain material steel concrete design prototype tolerance
        component assembly gear turbine pump valve sensor motor efficiency foundation column arch truss weld
        bearing shaft cable girder""",
}

HQ_GENERAL_NOUNS = words("""process system structure method property factor stage component example type form
    pattern level rate amount range feature role effect condition change unit source region period model
    theory principle mechanism function measure quantity sample experiment observation relationship
    difference proportion surface layer boundary interaction response variation cycle network property
    framework definition category approach technique procedure instrument estimate consequence distribution""")

HQ_ADJECTIVES = words("""significant complex specific particular relative distinct primary secondary essential
    fundamental typical characteristic consistent variable stable unstable efficient effective accurate
    precise structural chemical physical biological molecular cellular thermal electrical mechanical
    magnetic genetic environmental economic historical political mathematical statistical theoretical
    empirical experimental practical internal external initial final dominant subsequent gradual rapid
    continuous discrete adjacent parallel linear organic dense porous soluble reversible measurable
    observable comparable regional global local narrow broad uniform irregular periodic selective
    sensitive robust standard conventional modern ancient early later coastal industrial agricultural""")

HQ_ADVERBS = words("""typically generally usually frequently rarely largely partly mainly primarily directly
    indirectly gradually rapidly slowly consistently effectively approximately relatively significantly
    substantially commonly naturally eventually initially subsequently often""")

HQ_VERBS = words("""determine produce contain require involve describe explain measure represent regulate
    increase decrease reduce convert transfer absorb release form generate maintain influence affect allow
    enable prevent indicate reveal suggest define classify distinguish combine separate store transmit
    estimate calculate observe identify compare analyze support provide shape limit control protect
    surround connect replace resemble reflect record undergo seek bind split spread shed alter expand
    restrict exhibit sustain facilitate trigger inhibit accelerate stabilize""")

HQ_CONNECTIVES = words("""However Therefore Consequently Moreover Similarly Historically Typically Notably
    Furthermore Nevertheless Accordingly Conversely Additionally Importantly Alternatively Likewise
    Ultimately Generally""")

HQ_QUANTIFIERS = words("most many several some few numerous certain various")

# ------------------------------------------------------------ defects

# Words of at least eleven letters, for pages whose mean word length exceeds 10.
LONG_WORDS = words("""administration understanding responsibility international environmental
    communication organizations infrastructure characteristics manufacturing implementation transportation
    representatives recommendations comprehensive extraordinary unfortunately simultaneously approximately
    accommodation entertainment establishment interpretation investigation considerations professionalism
    opportunities neighborhoods relationships acknowledgement accountability sustainability transformation
    documentation configuration certification specification authentication administrative instrumentation
    uncomfortable disappointment concentration collaboration participation qualifications electromagnetic
    telecommunications photosynthesis internationally refrigeration recommendation straightforward
    thermodynamics undergraduates circumstances distinguished independently overwhelmingly
    constitutional subcommittee electrification industrialization consequences vulnerabilities
    microorganisms biodiversity superintendent counterproductive misunderstanding entrepreneurship
    commercialization appropriations unquestionably notwithstanding personalization visualization
    reconstruction rehabilitation hospitalization disproportionate indistinguishable""")

NAV_WORDS = words("""Home Contact Menu Search Login Share Tweet Print Next Previous Archives Categories Tags
    Subscribe Blog About Gallery Events Donate Careers Resources Forum Help Feedback Sitemap Pinterest""")

UPPERCASE_LINES = (
    "HOME ABOUT US CONTACT", "SHOP NOW", "FREE SHIPPING ON ALL ORDERS", "LATEST NEWS", "SUBSCRIBE TODAY",
    "RELATED POSTS", "FOLLOW US", "BACK TO TOP", "LEAVE A COMMENT", "POPULAR ARTICLES", "MAIN MENU",
    "SPECIAL OFFER", "OUR SERVICES", "RECENT COMMENTS", "NEWSLETTER SIGNUP", "BOOK NOW", "SALE ENDS SOON",
)

COUNTER_WORDS = words("""likes shares comments retweets reposts quotes bookmarks upvotes downvotes downloads views
    followers""")

# Lines of ten or fewer words that DCLM's substring line modifiers edit.
BOILERPLATE_LINES = (
    "{n} items in cart", "Your basket: {n} items in cart", "Read more...", "Continue the story. Read more...",
    "Sign-in to leave a comment", "Sign-in or create an account", "Sign-in to see prices",
    "View basket ({n} items in cart)", "Full review here. Read more...", "Sign-in for member offers",
)

# ------------------------------------------------------------ other languages
# Each: (subject/object noun phrases, verbs in the 3rd person, adjectives, place phrases, openers, connectors)

FOREIGN: dict[str, dict[str, str]] = {
    "de": {
        "np": """der Hund|die Katze|das Haus|der Garten|die Stadt|das Auto|der Lehrer|die Mutter|der Vater|das Kind
            |die Schule|der Markt|das Fenster|die Tür|der Tisch|die Küche|das Brot|der Kuchen|die Zeitung|das Buch
            |der Nachbar|die Freundin|der Bauer|die Straße|das Dorf|der Wald|die Wiese|der Fluss|die Brücke
            |das Rathaus|der Bahnhof|die Kirche|der Bäcker|die Ärztin|das Geschenk|der Brief|die Reise|das Wetter
            |der Winter|die Woche|das Fahrrad|der Koffer|die Tasche|das Zimmer|der Schlüssel|die Lampe""",
        "v": """sieht|findet|kauft|macht|bringt|sucht|öffnet|schließt|braucht|liebt|kennt|holt|trägt|baut
            |malt|repariert|besucht|verkauft|bezahlt|erklärt|zeigt|schreibt|liest|vergisst|bemerkt|putzt""",
        "adj": """groß|klein|alt|neu|schön|warm|kalt|ruhig|laut|schnell|langsam|freundlich|teuer|billig|hell
            |dunkel|müde|glücklich|wichtig|einfach|schwer|leicht|frisch|sauber""",
        "pp": """im Garten|in der Stadt|auf dem Markt|neben dem Haus|hinter der Kirche|am Fluss|im Wald|auf der
            Straße|in der Küche|vor dem Bahnhof|nach der Arbeit|am Wochenende|im Sommer|im Winter|mit den
            Kindern|ohne die Tasche|bei dem Nachbarn|unter dem Tisch|über die Brücke|durch das Dorf""",
        "open": """Heute|Gestern|Morgen|Danach|Leider|Zum Glück|Am Abend|Jeden Tag|Manchmal|Dann|Später|Früher""",
        "conj": """und|aber|weil|denn|obwohl|doch|sondern""",
        "cop": """ist|war|bleibt|wird""",
    },
    "fr": {
        "np": """le chien|la chatte|la maison|le jardin|la ville|la voiture|le professeur|la mère|le père|l'enfant
            |l'école|le marché|la fenêtre|la porte|la table|la cuisine|le pain|le gâteau|le journal|le livre
            |le voisin|l'amie|le fermier|la rue|le village|la forêt|la prairie|la rivière|le pont|la mairie
            |la gare|l'église|le boulanger|la médecin|le cadeau|la lettre|le voyage|le temps|l'hiver|la semaine
            |le vélo|la valise|le sac|la chambre|la clé|la lampe""",
        "v": """voit|trouve|achète|fait|apporte|cherche|ouvre|ferme|aime|connaît|prend|porte|construit
            |peint|répare|visite|vend|paie|explique|montre|écrit|lit|oublie|remarque|nettoie|regarde""",
        "adj": """grand|petit|vieux|nouveau|beau|chaud|froid|calme|bruyant|rapide|lent|aimable|cher|fatigué
            |heureux|important|simple|lourd|léger|frais|propre|joli|sombre|clair""",
        "pp": """dans le jardin|en ville|au marché|près de la maison|derrière l'église|au bord de la rivière
            |dans la forêt|dans la rue|dans la cuisine|devant la gare|après le travail|pendant le week-end
            |en été|en hiver|avec les enfants|sans le sac|chez le voisin|sous la table|sur le pont|à travers
            le village""",
        "open": """Aujourd'hui|Hier|Demain|Ensuite|Malheureusement|Heureusement|Le soir|Chaque jour|Parfois|Puis
            |Plus tard|Autrefois""",
        "conj": """et|mais|parce que|car|bien que|pourtant|donc""",
        "cop": """est|était|reste|devient""",
    },
    "es": {
        "np": """el perro|la gata|la casa|el jardín|la ciudad|el coche|el maestro|la madre|el padre|el niño
            |la escuela|el mercado|la ventana|la puerta|la mesa|la cocina|el pan|el pastel|el periódico|el libro
            |el vecino|la amiga|el granjero|la calle|el pueblo|el bosque|el prado|el río|el puente
            |el ayuntamiento|la estación|la iglesia|el panadero|la médica|el regalo|la carta|el viaje|el tiempo
            |el invierno|la semana|la bicicleta|la maleta|la bolsa|la habitación|la llave|la lámpara""",
        "v": """ve|encuentra|compra|hace|trae|busca|abre|cierra|necesita|quiere|conoce|toma|lleva|construye
            |pinta|repara|visita|vende|paga|explica|muestra|escribe|lee|olvida|nota|limpia|mira""",
        "adj": """grande|pequeño|viejo|nuevo|bonito|caliente|frío|tranquilo|ruidoso|rápido|lento|amable|caro
            |barato|cansado|feliz|importante|sencillo|pesado|ligero|fresco|limpio|oscuro|claro""",
        "pp": """en el jardín|en la ciudad|en el mercado|cerca de la casa|detrás de la iglesia|junto al río
            |en el bosque|en la calle|en la cocina|delante de la estación|después del trabajo|durante el fin de
            semana|en verano|en invierno|con los niños|sin la bolsa|en casa del vecino|debajo de la mesa|sobre
            el puente|por el pueblo""",
        "open": """Hoy|Ayer|Mañana|Después|Por desgracia|Por suerte|Por la tarde|Cada día|A veces|Luego|Más tarde
            |Antes""",
        "conj": """y|pero|porque|pues|aunque|sin embargo|así que""",
        "cop": """es|era|está|parece""",
    },
    "it": {
        "np": """il cane|la gatta|la casa|il giardino|la città|la macchina|il maestro|la madre|il padre|il bambino
            |la scuola|il mercato|la finestra|la porta|il tavolo|la cucina|il pane|la torta|il giornale|il libro
            |il vicino|l'amica|il contadino|la strada|il paese|il bosco|il prato|il fiume|il ponte|il municipio
            |la stazione|la chiesa|il fornaio|la dottoressa|il regalo|la lettera|il viaggio|il tempo|l'inverno
            |la settimana|la bicicletta|la valigia|la borsa|la camera|la chiave|la lampada""",
        "v": """vede|trova|compra|fa|porta|cerca|apre|chiude|ama|conosce|prende|costruisce|dipinge|ripara
            |visita|vende|paga|spiega|mostra|scrive|legge|dimentica|nota|pulisce|guarda|aspetta""",
        "adj": """grande|piccolo|vecchio|nuovo|bello|caldo|freddo|tranquillo|rumoroso|veloce|lento|gentile|caro
            |economico|stanco|felice|importante|semplice|pesante|leggero|fresco|pulito|scuro|chiaro""",
        "pp": """nel giardino|in città|al mercato|vicino alla casa|dietro la chiesa|lungo il fiume|nel bosco
            |per la strada|in cucina|davanti alla stazione|dopo il lavoro|durante il fine settimana|in estate
            |in inverno|con i bambini|senza la borsa|dal vicino|sotto il tavolo|sopra il ponte|attraverso il
            paese""",
        "open": """Oggi|Ieri|Domani|Dopo|Purtroppo|Per fortuna|La sera|Ogni giorno|A volte|Poi|Più tardi|Prima""",
        "conj": """e|ma|perché|poiché|anche se|però|quindi""",
        "cop": """è|era|resta|sembra""",
    },
}

FOREIGN_TLD = {"de": "de", "fr": "fr", "es": "es", "it": "it"}
