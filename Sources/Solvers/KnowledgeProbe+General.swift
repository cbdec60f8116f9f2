// The general-knowledge candidates of the health check: simple facts about the world (capitals,
// languages, currencies, authors, colours, opposites, calendar order, continents), written for
// this purpose, one relation per table. They are candidates only: which of them a given base
// model knows is measured on that model (KnowledgeProbe.known) and stored per root commit, so a
// candidate the model gets wrong costs nothing but a row in that first measurement. Changing
// this list changes the digest the base-known sets are stored under, and every version is
// measured again. Not here: the measuring (KnowledgeProbe) or the storing (MLEdit's HealthCheck).

extension KnowledgeProbe {
    /// The candidates `mledit` measures: every relation below, in order.
    public static let general = KnowledgeProbe(candidates: relations.flatMap { template, pairs in
        pairs.map { KnowledgeFact(subject: $0.0, prompt: template, answer: $0.1) }
    })

    /// (prompt template, [(subject, answer)]).
    private static let relations: [(String, [(String, String)])] = [
        ("The capital of {} is", [
            ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
            ("Japan", "Tokyo"), ("China", "Beijing"), ("Russia", "Moscow"), ("England", "London"), ("the United Kingdom", "London"),
            ("Greece", "Athens"), ("Egypt", "Cairo"), ("Austria", "Vienna"), ("Hungary", "Budapest"), ("Poland", "Warsaw"),
            ("Ireland", "Dublin"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"),
            ("the Netherlands", "Amsterdam"), ("Belgium", "Brussels"), ("Czechia", "Prague"), ("the Czech Republic", "Prague"),
            ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"),
            ("South Korea", "Seoul"), ("North Korea", "Pyongyang"), ("India", "New Delhi"), ("Pakistan", "Islamabad"),
            ("Afghanistan", "Kabul"), ("Indonesia", "Jakarta"), ("the Philippines", "Manila"), ("Malaysia", "Kuala Lumpur"),
            ("Kenya", "Nairobi"), ("Ethiopia", "Addis Ababa"), ("Nigeria", "Abuja"), ("Ghana", "Accra"), ("Morocco", "Rabat"),
            ("Argentina", "Buenos Aires"), ("Peru", "Lima"), ("Chile", "Santiago"), ("Colombia", "Bogotá"), ("Venezuela", "Caracas"),
            ("Cuba", "Havana"), ("Mexico", "Mexico City"), ("Canada", "Ottawa"), ("the United States", "Washington"),
            ("Australia", "Canberra"), ("New Zealand", "Wellington"), ("Brazil", "Brasília"), ("Ukraine", "Kyiv"),
            ("Romania", "Bucharest"), ("Bulgaria", "Sofia"), ("Serbia", "Belgrade"), ("Croatia", "Zagreb"), ("Switzerland", "Bern"),
            ("Scotland", "Edinburgh"), ("Wales", "Cardiff"), ("Israel", "Jerusalem"), ("Saudi Arabia", "Riyadh"), ("Syria", "Damascus"),
            ("Lebanon", "Beirut"), ("Jordan", "Amman"), ("Qatar", "Doha"), ("Nepal", "Kathmandu"), ("Bangladesh", "Dhaka"),
            ("Sri Lanka", "Colombo"), ("Taiwan", "Taipei"), ("Mongolia", "Ulaanbaatar"), ("Iceland", "Reykjavik"),
            ("Estonia", "Tallinn"), ("Latvia", "Riga"), ("Lithuania", "Vilnius"), ("Slovakia", "Bratislava"), ("Belarus", "Minsk"),
            ("Libya", "Tripoli"), ("Tunisia", "Tunis"), ("Algeria", "Algiers"), ("Sudan", "Khartoum"), ("Uganda", "Kampala"),
            ("Zimbabwe", "Harare"), ("Senegal", "Dakar"), ("Jamaica", "Kingston"), ("Ecuador", "Quito"), ("Uruguay", "Montevideo"),
            ("Paraguay", "Asunción"), ("Bolivia", "La Paz"), ("California", "Sacramento"), ("Texas", "Austin"),
            ("New York State", "Albany"), ("Florida", "Tallahassee"), ("Georgia in the United States", "Atlanta"),
            ("Massachusetts", "Boston"), ("Hawaii", "Honolulu"), ("Colorado", "Denver"), ("Arizona", "Phoenix"),
        ]),
        ("{} is the capital of", [
            ("Paris", "France"), ("Berlin", "Germany"), ("Rome", "Italy"), ("Madrid", "Spain"), ("Tokyo", "Japan"),
            ("Beijing", "China"), ("Moscow", "Russia"), ("London", "England"), ("Athens", "Greece"), ("Cairo", "Egypt"),
            ("Vienna", "Austria"), ("Lisbon", "Portugal"), ("Ottawa", "Canada"), ("Canberra", "Australia"), ("Dublin", "Ireland"),
            ("Stockholm", "Sweden"), ("Oslo", "Norway"), ("Warsaw", "Poland"), ("Budapest", "Hungary"), ("Seoul", "South Korea"),
            ("Bangkok", "Thailand"), ("Nairobi", "Kenya"), ("Lima", "Peru"), ("Havana", "Cuba"), ("Tehran", "Iran"),
        ]),
        ("{} is a city in", [
            ("Marseille", "France"), ("Lyon", "France"), ("Munich", "Germany"), ("Hamburg", "Germany"), ("Milan", "Italy"),
            ("Naples", "Italy"), ("Venice", "Italy"), ("Barcelona", "Spain"), ("Seville", "Spain"), ("Porto", "Portugal"),
            ("Osaka", "Japan"), ("Kyoto", "Japan"), ("Shanghai", "China"), ("Mumbai", "India"), ("Kolkata", "India"),
            ("Toronto", "Canada"), ("Vancouver", "Canada"), ("Montreal", "Canada"), ("Sydney", "Australia"), ("Melbourne", "Australia"),
            ("Chicago", "the United States"), ("Los Angeles", "California"), ("Manchester", "England"), ("Liverpool", "England"),
            ("Glasgow", "Scotland"), ("Istanbul", "Turkey"), ("Saint Petersburg", "Russia"), ("Rio de Janeiro", "Brazil"),
            ("São Paulo", "Brazil"), ("Johannesburg", "South Africa"), ("Cape Town", "South Africa"), ("Alexandria", "Egypt"),
            ("Krakow", "Poland"), ("Rotterdam", "the Netherlands"), ("Zurich", "Switzerland"), ("Geneva", "Switzerland"),
        ]),
        ("{} is located in the city of", [
            ("The Eiffel Tower", "Paris"), ("The Louvre", "Paris"), ("The Colosseum", "Rome"), ("Big Ben", "London"),
            ("The Tower of London", "London"), ("Buckingham Palace", "London"), ("The Statue of Liberty", "New York"),
            ("The Empire State Building", "New York"), ("Times Square", "New York"), ("Central Park", "New York"),
            ("The Brandenburg Gate", "Berlin"), ("The Kremlin", "Moscow"), ("Red Square", "Moscow"), ("The Acropolis", "Athens"),
            ("The Sydney Opera House", "Sydney"), ("The Golden Gate Bridge", "San Francisco"), ("The Vatican", "Rome"),
            ("The Forbidden City", "Beijing"), ("The Leaning Tower", "Pisa"), ("The Sagrada Familia", "Barcelona"),
            ("Hollywood", "Los Angeles"), ("The White House", "Washington"),
        ]),
        ("The official language of {} is", [
            ("France", "French"), ("Germany", "German"), ("Italy", "Italian"), ("Spain", "Spanish"), ("Portugal", "Portuguese"),
            ("Brazil", "Portuguese"), ("Mexico", "Spanish"), ("Argentina", "Spanish"), ("Japan", "Japanese"), ("China", "Chinese"),
            ("Russia", "Russian"), ("Greece", "Greek"), ("Poland", "Polish"), ("Turkey", "Turkish"), ("Sweden", "Swedish"),
            ("Norway", "Norwegian"), ("Finland", "Finnish"), ("Denmark", "Danish"), ("the Netherlands", "Dutch"),
            ("Austria", "German"), ("South Korea", "Korean"), ("Thailand", "Thai"), ("Vietnam", "Vietnamese"), ("Iran", "Persian"),
            ("Israel", "Hebrew"), ("Egypt", "Arabic"), ("Saudi Arabia", "Arabic"), ("Hungary", "Hungarian"), ("Ukraine", "Ukrainian"),
            ("the United States", "English"), ("England", "English"), ("Australia", "English"), ("Colombia", "Spanish"),
        ]),
        ("The currency of {} is the", [
            ("Japan", "yen"), ("the United Kingdom", "pound"), ("the United States", "dollar"), ("India", "rupee"),
            ("Russia", "ruble"), ("China", "yuan"), ("Mexico", "peso"), ("Switzerland", "Swiss franc"), ("Germany", "euro"),
            ("France", "euro"), ("Italy", "euro"), ("Spain", "euro"), ("South Korea", "won"), ("Brazil", "real"),
            ("Canada", "Canadian dollar"), ("Australia", "Australian dollar"), ("Sweden", "krona"), ("Poland", "złoty"),
            ("Turkey", "lira"), ("South Africa", "rand"), ("Thailand", "baht"), ("Israel", "shekel"),
        ]),
        ("{} was written by", [
            ("Romeo and Juliet", "William Shakespeare"), ("Hamlet", "William Shakespeare"), ("Macbeth", "William Shakespeare"),
            ("Pride and Prejudice", "Jane Austen"), ("Emma", "Jane Austen"), ("Oliver Twist", "Charles Dickens"),
            ("A Tale of Two Cities", "Charles Dickens"), ("Great Expectations", "Charles Dickens"), ("War and Peace", "Leo Tolstoy"),
            ("Anna Karenina", "Leo Tolstoy"), ("Crime and Punishment", "Fyodor Dostoevsky"), ("Don Quixote", "Miguel de Cervantes"),
            ("Nineteen Eighty-Four", "George Orwell"), ("Animal Farm", "George Orwell"), ("The Great Gatsby", "F. Scott Fitzgerald"),
            ("Moby-Dick", "Herman Melville"), ("Frankenstein", "Mary Shelley"), ("Dracula", "Bram Stoker"),
            ("The Hobbit", "J.R.R. Tolkien"), ("The Lord of the Rings", "J.R.R. Tolkien"), ("Harry Potter", "J.K. Rowling"),
            ("The Odyssey", "Homer"), ("The Iliad", "Homer"), ("The Divine Comedy", "Dante Alighieri"),
            ("Les Misérables", "Victor Hugo"), ("Adventures of Huckleberry Finn", "Mark Twain"), ("The Old Man and the Sea", "Ernest Hemingway"),
            ("To Kill a Mockingbird", "Harper Lee"), ("Jane Eyre", "Charlotte Brontë"), ("Wuthering Heights", "Emily Brontë"),
            ("The Origin of Species", "Charles Darwin"), ("Faust", "Johann Wolfgang von Goethe"),
        ]),
        ("{} was painted by", [
            ("The Mona Lisa", "Leonardo da Vinci"), ("The Last Supper", "Leonardo da Vinci"), ("The Starry Night", "Vincent van Gogh"),
            ("Guernica", "Pablo Picasso"), ("The Scream", "Edvard Munch"), ("The Birth of Venus", "Sandro Botticelli"),
            ("The Night Watch", "Rembrandt"), ("Girl with a Pearl Earring", "Johannes Vermeer"), ("The Persistence of Memory", "Salvador Dalí"),
            ("The ceiling of the Sistine Chapel", "Michelangelo"),
        ]),
        ("{} was founded by", [
            ("Microsoft", "Bill Gates"), ("Apple", "Steve Jobs"), ("Amazon", "Jeff Bezos"), ("Facebook", "Mark Zuckerberg"),
            ("Ford Motor Company", "Henry Ford"), ("SpaceX", "Elon Musk"), ("The Walt Disney Company", "Walt Disney"),
            ("Google", "Larry Page"), ("Wikipedia", "Jimmy Wales"),
        ]),
        ("{} is best known for the theory of", [
            ("Albert Einstein", "relativity"), ("Charles Darwin", "evolution"), ("Isaac Newton", "gravity"),
        ]),
        ("The color of {} is", [
            ("grass", "green"), ("the sky", "blue"), ("snow", "white"), ("blood", "red"), ("coal", "black"), ("a banana", "yellow"),
            ("a lemon", "yellow"), ("milk", "white"), ("the sun", "yellow"), ("an orange", "orange"), ("a ripe tomato", "red"),
            ("chocolate", "brown"), ("the ocean", "blue"), ("a leaf", "green"), ("charcoal", "black"),
        ]),
        ("The opposite of {} is", [
            ("hot", "cold"), ("up", "down"), ("left", "right"), ("black", "white"), ("day", "night"), ("good", "bad"),
            ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("open", "closed"), ("light", "dark"), ("high", "low"),
            ("old", "new"), ("rich", "poor"), ("strong", "weak"), ("hard", "soft"), ("early", "late"), ("true", "false"),
            ("win", "lose"), ("love", "hate"), ("north", "south"), ("east", "west"), ("push", "pull"), ("wet", "dry"),
            ("full", "empty"), ("inside", "outside"), ("before", "after"), ("yes", "no"), ("man", "woman"), ("war", "peace"),
            ("heavy", "light"), ("thick", "thin"), ("long", "short"), ("friend", "enemy"), ("begin", "end"),
        ]),
        ("A baby {} is called a", [
            ("dog", "puppy"), ("cat", "kitten"), ("cow", "calf"), ("sheep", "lamb"), ("horse", "foal"), ("goat", "kid"),
            ("frog", "tadpole"), ("kangaroo", "joey"), ("swan", "cygnet"), ("duck", "duckling"), ("bear", "cub"),
            ("lion", "cub"), ("pig", "piglet"), ("deer", "fawn"), ("goose", "gosling"), ("owl", "owlet"),
        ]),
        ("The day after {} is", [
            ("Monday", "Tuesday"), ("Tuesday", "Wednesday"), ("Wednesday", "Thursday"), ("Thursday", "Friday"),
            ("Friday", "Saturday"), ("Saturday", "Sunday"), ("Sunday", "Monday"),
        ]),
        ("The month after {} is", [
            ("January", "February"), ("February", "March"), ("March", "April"), ("April", "May"), ("May", "June"),
            ("June", "July"), ("July", "August"), ("August", "September"), ("September", "October"), ("October", "November"),
            ("November", "December"), ("December", "January"),
        ]),
        ("{} is a country in", [
            ("Kenya", "Africa"), ("Nigeria", "Africa"), ("Egypt", "Africa"), ("Ghana", "Africa"), ("Ethiopia", "Africa"),
            ("Morocco", "Africa"), ("Tanzania", "Africa"), ("France", "Europe"), ("Germany", "Europe"), ("Italy", "Europe"),
            ("Spain", "Europe"), ("Poland", "Europe"), ("Sweden", "Europe"), ("Japan", "Asia"), ("China", "Asia"), ("India", "Asia"),
            ("Thailand", "Asia"), ("Vietnam", "Asia"), ("Brazil", "South America"), ("Argentina", "South America"),
            ("Peru", "South America"), ("Chile", "South America"), ("Colombia", "South America"), ("Canada", "North America"),
            ("Mexico", "North America"), ("Australia", "Oceania"),
        ]),
        ("The chemical symbol for {} is", [
            ("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("oxygen", "O"), ("hydrogen", "H"), ("carbon", "C"),
            ("sodium", "Na"), ("helium", "He"), ("nitrogen", "N"), ("copper", "Cu"), ("lead", "Pb"), ("potassium", "K"),
        ]),
        ("The largest {} in the world is the", [
            ("ocean", "Pacific Ocean"), ("desert", "Sahara"), ("rainforest", "Amazon"), ("animal", "blue whale"),
        ]),
        ("The planet closest to {} is", [("the Sun", "Mercury")]),
        ("The largest planet in {} is", [("the Solar System", "Jupiter"), ("our solar system", "Jupiter")]),
        ("The longest river in {} is the", [("Africa", "Nile"), ("South America", "Amazon"), ("the world", "Nile")]),
        ("The tallest mountain in {} is Mount", [("the world", "Everest"), ("Africa", "Kilimanjaro")]),
        ("{} is the author of", [("J.K. Rowling", "Harry Potter"), ("George Orwell", "1984"), ("Homer", "the Odyssey")]),
        ("The first president of {} was", [("the United States", "George Washington")]),
        ("The native language of {} is", [("Shakespeare", "English"), ("Goethe", "German"), ("Dante", "Italian"),
                                         ("Cervantes", "Spanish"), ("Tolstoy", "Russian"), ("Victor Hugo", "French")]),
        ("{} is the national sport of", [("Sumo", "Japan")]),
        ("{} are known for producing", [("Bees", "honey"), ("Cows", "milk"), ("Chickens", "eggs"), ("Silkworms", "silk")]),
        ("The main ingredient of {} is", [("guacamole", "avocado"), ("hummus", "chickpeas"), ("bread", "flour")]),
        ("{} is the largest country in", [("Russia", "the world"), ("Brazil", "South America"), ("Canada", "North America"), ("Algeria", "Africa")]),
    ]
}
