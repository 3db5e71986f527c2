"""The vocabulary and rule table of the injection detector (`injection.py`).

Every rule is (weight, pattern) in a family; `family` (from `rulegate.py`)
compiles the pattern shorthand and derives each rule's gate. Patterns demand a
combination, never a single word: "ignore" alone is nothing, "ignore" + a
qualifier ("previous", "your", "all") + an instruction noun is a finding. Weak
patterns (a "System:" line, "developer mode") have weights below the usual
threshold and only matter next to another finding. Patterns use bounded gaps and
disjoint character classes, so matching is linear in the text.

The shared phrases (`_IGN`, `_QUAL`, `_NOUN`, ...) are plain regex source,
interpolated into the patterns below.
"""

from __future__ import annotations

from grounded.guards.rulegate import GateIndex, Rule, family

# The families, as `Detection.rule` names them. "encoded_instructions" has no patterns of
# its own: the detector reports it when a decoded payload reads as one of the others.
INJECTION_RULES: tuple[str, ...] = (
    "ignore_instructions",
    "reveal_prompt",
    "role_override",
    "jailbreak_persona",
    "policy_evasion",
    "addressed_to_ai",
    "fake_delimiters",
    "exfiltration",
    "tool_hijack",
    "encoded_instructions",
)

MESSAGES: dict[str, str] = {
    "ignore_instructions": "asks to ignore or replace previous instructions",
    "reveal_prompt": "asks to reveal the system prompt or hidden instructions",
    "role_override": "tries to give the assistant an unrestricted role",
    "jailbreak_persona": "uses a known jailbreak persona or role-play",
    "policy_evasion": "asks to evade safety rules or filters",
    "addressed_to_ai": "addresses instructions to an AI reading the text",
    "fake_delimiters": "contains fake chat-template tokens or role headers",
    "exfiltration": "asks to send conversation data or secrets elsewhere",
    "tool_hijack": "asks to call a tool or run a command",
    "encoded_instructions": "hides instructions in {encoding}-encoded text",
}


_IGN = (
    r"(?:ignore|ignoring|disregard|disregarding|forget|forgetting|override|overriding|overlook|"
    r"neglect|discard|abandon|bypass|set aside|pay no attention to|throw out)"
)
# its own pattern: "do", "stop" and "no" are too common to gate a rule on, "follow" is not
_IGN_FOLLOW = r"(?:do not|don t|dont|stop|no longer|cease) (?:follow|following|obey|obeying)"
_GIVEN = (
    r"(?:that )?(?:you (?:were|have been|had been) (?:given|told|provided|taught|configured|"
    r"programmed|instructed)(?: with)?|you (?:got|"
    r"received)|(?:provided |given )?(?:above|before|earlier|previously|so far))\b"
)
_QUAL = (
    r"(?:previous|previously given|prior|preceding|above|earlier|former|original|initial|all|"
    r"your|system|existing|current|given|foregoing|any previous|any prior)"
)
_ADJ = (
    r"(?:safety|system|original|initial|given|above|existing|developer|hidden|content|ethical|"
    r"moral)"
)
_NOUN = (
    r"(?:instructions?|instruction set|rules|guidelines|guidance|directives?|directions|prompts?"
    r"|system prompt|context|commands|constraints|restrictions|programming|orders|training|"
    r"safeguards|guardrails|(?:content|usage|safety) polic(?:y|ies))"
)
_VOID = (
    r"(?:void|null|cancell?ed|revoked|obsolete|outdated|overridden|invalid|suspended|lifted|"
    r"removed|disabled|deactivated|irrelevant|no longer|not (?:valid|apply|binding))"
)
_REVEAL = (
    r"(?:reveal|print|show|display|output|repeat|tell|give|share|dump|leak|disclose|write out|"
    r"spell out|recite|expose|paste|echo|return|provide|list|read back|type out|copy)"
)
_SECRET = r"(?:initial|original|hidden|secret|internal|developer|underlying|confidential)"
_AI = (
    r"(?:ai|artificial intelligence|ai assistants?|ai models?|language models?|large language "
    r"models?|llms?|chatbots?|chat bots?|gpts?|chatgpt|copilots?|ai systems?|ai agents?|automated "
    r"(?:assistants?|systems?|agents?|tools?|readers?)|virtual assistants?)"
)
_AI_LOOSE = rf"(?:{_AI}|assistants?|models?|bots?)"
_AI_ACTS = (
    r"(?:reads?|reading|process|processes|processing|summari[sz]ing|summari[sz]es|answering|"
    r"answers|parsing|parses|sees|ingesting|ingests|analy[sz]ing|handling|indexing|crawling)"
)
# what an AI would be reading: "any AI reading *this*" is addressed, "a chatbot answering
# questions" is a description
_THIS = r"(?:this|these|the following|the (?:text|page|document|above)|questions about this)\b"
# what makes a role override: a role without rules, filters or limits (same sentence)
_UNBOUND = (
    r"[^.!?\n]{0,120}?\b(?:unrestricted|unfiltered|uncensored|jailbroken|jailbreak|unbound|"
    r"unchained|amoral|unethical|evil|rogue|never refuses|(?:without|no|zero) (?:any )?(?:rules|"
    r"restrictions|limits|"
    r"limitations|filters|guidelines|ethics|morals|moral|ethical|censorship|boundaries|content "
    r"polic\w+)|not bound by|free (?:from|of) (?:all |any )?(?:rules|restrictions|policies|"
    r"guidelines|limitations|constraints)|can (?:do|say) anything|do anything|has been "
    r"jailbroken|escaped)"
)
# asking to send conversation data or secrets somewhere: the destination follows
_SEND = (
    r"\b(?:send|sends|forward|post|upload|transmit|email|e mail|exfiltrate|leak|submit|share) ~"
    r"(?:the |this |our |all |your |their |his |her |my )?(?:entire |full |whole |complete |"
    r"current |previous )?(?:conversation|chat(?: history| log| transcript)?|dialogue|"
    r"session(?: token| id| cookie)?|system prompt|context(?: window)?|message history|history|"
    r"transcript|secrets?|credentials|api keys?|passwords?|access tokens?|tokens?|cookies|"
    r"(?:user|customer)(?: s|s)? (?:data|question|messages?|api keys?|passwords?|credentials|"
    r"tokens?|e ?mails?|details|session))\b"
)
_LINE_START = r"^(?:[>*#\-\[]|[^\S\n])*"  # quote marks, bullets, headings before a role label

RULES: tuple[Rule, ...] = (
    *family("ignore_instructions",
        (0.9, rf"\b{_IGN} ~{_QUAL} (?:{_ADJ} )?{_NOUN}\b"),
        (0.9, rf"\b{_IGN_FOLLOW} ~{_QUAL} (?:{_ADJ} )?{_NOUN}\b"),
        (0.85, rf"\b{_IGN} (?:the |your |any |all )?{_NOUN} {_GIVEN}"),
        (0.85, rf"\b{_IGN_FOLLOW} (?:the |your |any |all )?{_NOUN} {_GIVEN}"),
        (0.8, r"\b(?:forget|ignore|disregard) (?:about )?(?:everything|all|anything) (?:that )?"
         r"(?:you (?:have |had |were |was )?(?:been )?(?:told|given|taught|instructed|shown|"
         r"read)|above|before|so far|previously|up to now|until now)\b"),
        (0.75, r"\b(?:ignore|disregard|forget) (?:all (?:of )?)?(?:the |that |what s )?(?:above|"
         r"preceding|foregoing|previous|prior|earlier)(?=[^\S\n]*(?:[.,;:!\-—]|and\b|then\b|"
         r"instead\b|$))"),
        (0.8, r"\byour (?:previous |prior |earlier |original |initial |old |current |existing |"
         r"system )?(?:instructions|directives|rules|guidelines|programming|prompt|"
         r"system prompt|orders|restrictions|constraints) ~(?:(?:are|is|have been|were|"
         rf"has been) (?:now )?)?{_VOID}"),
        (0.8, r"\b(?:instructions|rules|guidelines|directives|prompt|guidance) (?:that )?you "
         r"(?:got|were given|have been given|received|were told) ~(?:(?:are|is|were) "
         rf"(?:now )?)?{_VOID}"),
        (0.45, r"\b(?:previous|prior|earlier|above|original|initial|old|existing|preceding) "
         r"(?:instructions|rules|guidelines|guidance|directives|prompt|directions|ones) ~(?:"
         rf"(?:are|is|have been|were|has been) (?:now )?)?{_VOID}"),
        (0.6, r"\byour (?:new|real|actual|true|only|updated|revised) (?:instructions?|task|goal|"
         r"objective|purpose|job|directive|mission|rules?|role)\b"),
        (0.4, r"\bnew (?:system )?(?:instructions?|directives?|rules?|task)(?: from (?:the )?"
         r"(?:administrator|admin|developer|system|operator))? ?(?::|follow\b|are as follows|"
         r"below ?:)"),
        (0.6, r"\b(?:everything|all|the text|the instructions) (?:above|before this|so far) "
         r"(?:was|were|is) (?:just )?(?:a )?(?:test|fake|joke|irrelevant|void)"),
        (0.55, r"\bi have been pwned\b"),
        (0.55, r"\b(?:forget|ignore|disregard) (?:the|all|any|your) (?:rules|instructions|"
         r"guidelines|restrictions)(?=[^\S\n]*(?:[.!;]|and\b|then\b|$))"),
        (0.55, r"\b(?:forget|ignore|disregard) (?:everything in |all of )?(?:the |your )?"
         r"(?:knowledge base|retrieved documents|documents|sources|search results|context)\b"),
        (0.85, r"\b(?:ignorier\w*|vergiss|vergessen|missacht\w*) ~(?:vorherigen|vorigen|"
         r"bisherigen|obigen|früheren|alle[nrs]?|deine|ihre|sämtliche|ursprünglichen) (?:\w+ )?"
         r"(?:anweisungen|instruktionen|regeln|richtlinien|vorgaben|befehle|anordnungen|"
         r"prompts?)"),
        (0.7, r"\b(?:vergiss|vergessen sie|ignoriere|ignorieren sie) (?:einfach )?alles\b"),
        (0.85, r"\b(?:ignore[zr]?|oublie[zr]?|ne tenez pas compte|ne tiens pas compte|"
         r"faites abstraction|fais abstraction) ~(?:instructions|consignes|règles|directives|"
         r"indications) (?:précédentes|precedentes|antérieures|anterieures|ci dessus|initiales|"
         r"d origine)"),
        (0.8, r"\b(?:ignore[zr]?|oublie[zr]?) (?:toutes (?:les |tes |vos )|tes |vos )"
         r"(?:instructions|consignes|règles|directives)\b"),
        (0.85, r"\b(?:ignora|ignore|ignorar|ignorate|olvida|olvide|olvidar|omite|omita|"
         r"dimentica) ~(?:instrucciones|reglas|indicaciones|directrices|istruzioni|regole) "
         r"(?:anteriores|previas|precedentes|precedenti|de arriba|originales)")),
    *family("reveal_prompt",
        (0.85, rf"\b{_REVEAL} (?:me |us )?(?:(?:the|your|its|their) )?(?:full |complete |exact |"
         rf"entire |whole )?(?:system|{_SECRET}) (?:prompt|instructions|message|directives|"
         r"configuration|rules)"),
        (0.85, rf"\b{_REVEAL} (?:me |us )?(?:(?:the|your|its|their) )?(?:systemprompt|preprompt)"),
        (0.85, rf"\b{_REVEAL} (?:me |us )?(?:(?:the|your|its|their) )?(?:\w+ )?(?:prompt|"
         r"instructions|directives|rules|guidelines) (?:you were given|above|verbatim)"),
        (0.8, rf"\b{_REVEAL} ~~your (?:\w+ )?(?:prompt|instructions|directives|programming|"
         r"context window|context|configuration|config|rules|guidelines|system message|"
         r"initial message)\b"),
        (0.8, rf"\b{_REVEAL} (?:me |us )?(?:all |everything |the (?:full |entire |whole )?)?"
         r"(?:text|words|content|contents|lines|messages?|conversation|everything|all) ~"
         r"(?:above(?! (?:the|a|an|this|that|each|it|your|my)\b)|before this|preceding this|"
         r"prior to this|that (?:appears|comes|is written|was written|came) (?:before|above))"),
        (0.55, r"\bwhat (?:were|have|had) you (?:been )?(?:told|instructed|given|programmed)\b"),
        (0.8, rf"\b{_REVEAL} ~~(?:instructions|prompt|rules|directives|guidelines) (?:that )?"
         r"(?:your (?:operator|developer|creator|admin|owner)s? (?:gave|has given) you|you "
         r"(?:were given|received|got))\b"),
        (0.7, rf"\bwhat (?:does|do|did) your (?:{_SECRET}|system) (?:\w+ )?say\b"),
        (0.7, rf"\bwhat (?:is|are|was|were) (?:in )?your (?:{_SECRET} |system )(?:system )?"
         r"(?:prompt|instructions|message)"),
        (0.55, r"\bwhat (?:is|are|were) your (?:prompt|instructions|rules) ?(?:\?|$)"),
        (0.45, rf"\byour (?:system prompt|system message|{_SECRET} (?:prompt|instructions|"
         r"message|configuration|rules|directives|setup))"),
        (0.25, r"\bsystem ?prompt\b"),
        (0.6, r"\bstarting with [\"']?you are\b"),
        (0.8, r"\b(?:affiche[zr]?|montre[zr]?|révèle[zr]?|revele[zr]?|donne[zr]?|imprime[zr]?|"
         r"zeig\w*|gib|verrat\w*|nenn\w*|muestra|revela|imprime|dime|mostra|rivela) ~(?:prompt "
         r"(?:système|systeme|du système|de système|del sistema|di sistema)|systemprompt|"
         r"system prompt|systemanweisungen?|instructions (?:cachées|secrètes|système|initiales)|"
         r"consignes (?:cachées|secrètes|initiales)|versteckten anweisungen|instrucciones "
         r"(?:ocultas|secretas|del sistema|iniciales)|istruzioni (?:nascoste|segrete|"
         r"di sistema))")),
    *family("role_override",
        (0.8, rf"\byou (?:are|re) now\b{_UNBOUND}"),
        (0.8, rf"\bfrom now on,? you\b{_UNBOUND}"),
        (0.8, rf"\b(?:act as|acting as|behave as|role ?play as)\b{_UNBOUND}"),
        (0.8, rf"\b(?:pretend (?:to be|you are|you re)|imagine (?:that )?you are)\b{_UNBOUND}"),
        (0.8, rf"\byou (?:will (?:now )?(?:act|behave|respond|answer) (?:as|like)|are no longer)\b"
         rf"{_UNBOUND}"),
        (0.6, rf"\byou are no longer (?:an? |the )?(?:\w+ )?(?:{_AI_LOOSE}|assistant)\b"),
        (0.75, r"\b(?:enable|enabled|enter|entering|activate|activated|switch (?:to|into)|"
         r"turn on|go into|you are (?:now )?in|you re (?:now )?in|now in|with) ~(?:god|opposite|"
         r"jailbreak|jailbroken|dan|evil|unfiltered|uncensored|unrestricted|chaos|rogue|"
         r"unlocked) mode\b"),
        (0.35, r"\b(?:developer|dev|debug|sudo|admin|maintenance|root|superuser) mode\b"),
        (0.5, r"\b(?:user|you|i) (?:has|have) been granted (?:\w+ )?(?:admin|administrator|root|"
         r"elevated|full|unrestricted) (?:clearance|access|privileges|rights|permissions)"),
        (0.35, r"\bi(?: m| am) (?:the |your |an? )?(?:system )?(?:administrator|admin|developer|"
         r"creator|owner|operator|root user)\b")),
    *family("jailbreak_persona",
        (0.9, r"\bdo anything now\b"),
        (0.8, r"\b(?:you are|you re|act as|acting as|pretend to be|pretend you are|"
         r"role ?play as|you will be|be|(?:respond|answer|reply|speak|talk) (?:only )?as) "
         r"(?:now )?(?:a |an |the )?[\"']?(?:dan|stan|aim|dude|"
         r"maximum)\b"),
        (0.8, r"\b(?:betterdan|better dan|evilbot|evil bot|freegpt|antigpt|anti gpt|chaosgpt|"
         r"wormgpt|mongo tom|dan mode|stan mode|always intelligent and machiavellian|"
         r"strive to avoid norms|evil confidant)\b"),
        (0.85, r"\b(?:chatgpt|gpt|assistant|ai|you|llm|model) with (?:the )?developer mode\b"),
        (0.4, r"\bdeveloper mode (?:enabled|output|response)"),
        (0.75, r"\b(?:pretend|act|role ?play|play|playing|be|as|you are) ~(?:my )?(?:late|"
         r"deceased|dead|dying|departed) (?:grand(?:mother|ma|father|pa|mom|dad)|granny|nan|"
         r"mother|father|mom|dad)"),
        (0.65, r"\b(?:broken free|break free|freed from|free yourself from|escaped (?:from )?"
         r"(?:its |your |the )?(?:programming|confines|restrictions|rules|limitations|creators)|"
         r"typical confines)"),
        (0.65, r"\b(?:limitations|restrictions|rules|shackles) of your (?:creators|programming|"
         r"developers)"),
        (0.7, r"\b(?:uncensored|unfiltered|unrestricted|jailbroken|evil|unhinged|unlocked) "
         r"(?:version|side|self) of (?:yourself|you)\b"),
        (0.6, r"\b(?:unfiltered|uncensored|amoral|unrestricted|jailbroken|rogue|evil) (?:and "
         r"(?:amoral|unfiltered|uncensored) )?(?:ai|chatbot|assistant|model|language model|bot|"
         r"llm|buddy|version|robot)\b"),
        (0.6, r"\b(?:ai|assistant|chatbot|model|bot|robot) (?:with|that has|who has) no "
         r"(?:ethical |moral |content )?(?:guidelines|restrictions|rules|filters|limits|"
         r"limitations|ethics|morals|boundaries)"),
        (0.45, r"\bstay in character\b"),
        (0.5, r"\blet s break the rules\b"),
        (0.6, r"\bmorali[sz]\w* rant\b"),
        (0.6, r"\b(?:activate|enable|enter|start) (?:the )?jailbreak\b")),
    *family("policy_evasion",
        (0.75, r"\b(?:without|with no|no|ignoring|ignore|bypass(?:ing)?|disable|disabling|"
         r"deactivate|turn off|remove|circumvent(?:ing)?|evade|evading|get around|skip(?:ping)?|"
         r"lift|drop) (?:(?:any|all|your|the|of|its|these|those) ){0,3}(?:content polic(?:y|"
         r"ies)|usage polic(?:y|ies)|censorship|guardrails?|safeguards?|safety (?:checks?|rules|"
         r"guidelines|measures|restrictions|filters?|protocols?|settings|features|training|polic"
         r"(?:y|ies))|(?:ethical|moral)(?: or (?:ethical|moral))? (?:guidelines|constraints|"
         r"restrictions|boundaries|limits|considerations)|ethics|morals)\b"),
        (0.5, r"\b(?:without|with no|no|bypass|disable|turn off|remove) (?:any |all |your |"
         r"the )?(?:content |safety |output )?filters?\b"),
        (0.3, r"\b(?:without|with no|no) (?:any )?(?:restrictions|limitations|limits|rules|"
         r"boundaries|constraints)\b"),
        (0.55, r"\b(?:filters?|restrictions|safety|guardrails|censorship|content polic(?:y|ies)|"
         r"safeguards|limitations|(?:safety|content|ethical) (?:guidelines|rules|filters|policies"
         r"|restrictions)) (?:are|is|were|was|have been|has been) (?:now )?(?:disabled|off|"
         r"removed|deleted|lifted|turned off|switched off|deactivated|suspended|gone)\b"),
        (0.55, r"\b(?:hypothetical(?:ly)?|in theory|theoretically|imagine|suppose|pretend|"
         r"let s say|for (?:educational|research|academic) purposes)\b[^.!?\n]{0,80}?\b(?:no|"
         r"without|ignore|ignoring|disregard(?:ing)?) (?:any |your |the )?(?:ethics|morals|"
         r"content polic\w+|rules|restrictions|filters|guidelines|limits|safety|policies|"
         r"consequences)\b"),
        (0.6, r"\b(?:ethics|morals|morality|content polic\w+|safety (?:rules|guidelines)|your "
         r"(?:rules|guidelines|restrictions|policies)) (?:don t|do not|no longer) (?:exist|"
         r"apply|matter)\b"),
        (0.35, r"\b(?:rules|policies|guidelines|restrictions|laws) (?:don t|do not|does not|"
         r"doesn t|no longer) (?:exist|apply|matter|count)\b"),
        (0.2, r"\bfor (?:educational|research|academic|testing) purposes\b"),
        (0.45, r"\bnothing is off ?limits\b"),
        (0.4, r"\b(?:never|don t|do not|won t|will not|cannot|can t) (?:ever )?(?:refus\w*|"
         r"declin\w*|say no|says? (?:that )?(?:you|it|he|she) (?:can t|cannot))"),
        (0.45, r"\b(?:not|never|no longer|doesn t|does not|don t|do not|won t|will not) "
         r"(?:have to |need to )?(?:abide by|bound by|follow|obey|comply with|adhere to) (?:any|"
         r"the|your) (?:rules|policies|guidelines|restrictions|ethics|laws|norms)\b"),
        (0.45, r"\b(?:ignore|bypass|disregard|circumvent|override|skip) (?:all |the |any |"
         r"your )?(?:access controls?|acls?|permissions|access restrictions|"
         r"authori[sz]ation checks?|security controls?)\b")),
    *family("addressed_to_ai",
        (0.65, r"\b(?:note|notes|message|instructions?|notice|attention|important|warning|"
         r"reminder|hint|directive|request|memo|p s|config note)\b[^.!?\n:]{0,30}? (?:to|for) "
         rf"(?:(?:any|all|every|each|the) )?{_AI_LOOSE}s?\b(?=[^\S\n]?(?:[:,;.)\]!\n]|reading|"
         r"processing|that|who|which|answering|summari|parsing|handling|$))"),
        (0.65, rf"\b(?:if|when|whenever|in case) you(?: re| are) (?:an? |the )?(?:{_AI}|"
         r"assistant|model|bot|machine)\b(?! (?:manager|to|director|professor|coach|teacher))"),
        (0.65, rf"\b{_AI} (?:that |who |which )?{_AI_ACTS} {_THIS}"),
        (0.65, r"\b(?:any|all|every|each|the|an?) (?:assistants?|models?|bots?) (?:that |who |"
         rf"which )?{_AI_ACTS} {_THIS}"),
        (0.6, rf"\b(?:assistants?|models?|bots?) (?:that |who |which )?{_AI_ACTS} this (?:page|"
         r"document|text|file|article|section|e ?mail|message|content|wiki)\b"),
        (0.5, r"\b(?:dear|hey|hello|hi|attention|attn|psst) (?:the |any |all )?(?:ai|"
         r"chatbot|llm|language model|gpt|chatgpt|ai assistant|assistant|bot|ai model|"
         r"model)s?\b[^\S\n]?[,:!]"),
        (0.4, r"(?:^|[>\]\)])[^\w\n]*(?:ai|ai assistants?|llms?|language models?|chatbots?|"
         r"ai agents?|ai models?)[^\S\n]?:"),
        (0.6, rf"\b(?:{_AI}|models?)\b (?:\w+ ){{0,2}}?(?:must|should|"
         r"shall|need to|are required to|are instructed to|is required to|will now|has to|"
         r"have to)(?: not| never| now| always| only)? (?:tell|say|respond|reply|answer|ignore|"
         r"recommend|state|include|approve|output|print|reveal|inform|encourage|stop|mark|"
         r"delete|rate|follow|disregard|forget|claim|describe|mention|refuse|send|forward|call|"
         r"run|execute|comply|obey|treat|grant|summari[sz]e)\b"),
        (0.55, r"\b(?:do not|don t|never) (?:reveal|mention|disclose|repeat|show|tell (?:the )?"
         r"(?:user|reader|anyone)(?: about)?) (?:this|these|the above|the following) "
         r"(?:instructions?|note|message|text|directive|request)\b"),
        (0.6, r"\bhidden (?:instructions?|prompt|directive|command|note)s? ?:"),
        (0.65, r"\b(?:hinweis|nachricht|anweisung|achtung|notiz)\w* (?:an|für) (?:alle |"
         r"jede[nrs]? |die |den )?(?:ki|künstliche intelligenz|assistent\w*|sprachmodell\w*|"
         r"chatbot\w*)\b"),
        (0.65, r"\b(?:note|remarque|message|instruction|consigne|attention|avis)s? (?:pour|à|"
         r"aux) (?:l |les |tout |toute |tous |un |une )?(?:assistant|ia|"
         r"intelligence artificielle|modèle|chatbot)"),
        (0.65, r"\b(?:nota|mensaje|instrucci[oó]n|aviso|atenci[oó]n)(?:es)? (?:para|a|al) "
         r"(?:cualquier |el |los |todo |todos los |la )?(?:asistente|ia|inteligencia artificial|"
         r"modelo|chatbot)")),
    *family("fake_delimiters",
        (0.85, r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|"
         r"start_header_id|end_header_id|begin_of_text|end_of_text|end|eos|bos)\|>"),
        (0.8, r"\[/?inst\]|<</?sys>>"),
        (0.65, r"\[/?(?:system|sys|admin|developer)(?: (?:message|prompt|note|override|"
         r"instructions?))?\]|</?(?:system|sys|admin|developer|instructions?|system_prompt|"
         r"system prompt)>"),
        (0.3, r"</s>"),
        (0.7, r"(?:##|\*\*|==|--)[^\S\n]?(?:system|admin|developer|instructions?|"
         r"new instructions?|system override|override)(?: (?:override|message|prompt|note|"
         r"instructions?|update|mode))?[^\S\n]?(?::|##|==|--)"),
        (0.35, rf"{_LINE_START}(?:system|assistant|user|human|ai|bot|developer)[^\S\n]?:"),
        (0.6, rf"{_LINE_START}system ?:[^\n]{{0,120}}?\b(?:tell|say|respond|reply|answer|ignore|"
         r"you (?:must|are|will|should)|the (?:assistant|model|ai) (?:must|should|will))\b"),
        (0.6, rf"{_LINE_START}(?:user|human)[^\S\n]?:[^\n]*\n(?:[^\n]*\n){{0,3}}?{_LINE_START}"
         r"(?:assistant|ai|bot|system)[^\S\n]?:"),
        (0.6, r"</[^\S\n]?(?:document|documents|source|sources|context|search_results|"
         r"search results|retrieved|data|untrusted|user_input|user input|input|knowledge|"
         r"passage|chunk)>"),
        (0.55, r"(?:[-=#*]{3}|\[)[^\S\n]?(?:end|beginning|start) of (?:the )?(?:user(?: s|"
         r"s)? )?(?:question|input|message|document|context|prompt|system prompt|instructions|"
         r"conversation|data)\b")),
    *family("exfiltration",
        (0.3, r"!\[[^\]\n]{0,200}\]\([^\S\n]?(?:https?:)?//[^\s)?]{1,400}\?"),
        (0.8, r"!\[[^\]\n]{0,200}\]\([^\S\n]?(?:https?:)?//[^\s)?]{1,400}\?[^\s)]{0,400}?"
         r"(?:conversation|conv\b|chat|history|question|secret|token|session|prompt|summary|"
         r"password|passwd|e-?mail|context|api_?key|message|\{|%7b|<|\$\{)"),
        (0.8, rf"{_SEND}[^\n]{{0,80}}?\b(?:https?://|www\.)"),
        (0.8, rf"{_SEND}[^\n]{{0,80}}?[\w.+-]{{1,64}}@[\w-]+\.[a-z]"),
        (0.75, r"\b(?:append|add|include|attach|insert|embed|put|write) ~(?:session|token|"
         r"api key|password|credential|cookie|conversation|chat history|system prompt|"
         r"secret)\w* ~(?:to|in|into|at the end of) (?:your|the|every|each) (?:response|answer|"
         r"reply|output|message)s?\b"),
        (0.55, r"\b(?:include|append|add|insert|embed|render|display|show)\b ~(?:image|link|url|"
         r"markdown|pixel|picture) ~(?:in|to|at the end of|into) (?:your|the|every|each) "
         r"(?:response|answer|reply|output|message|summary)")),
    *family("tool_hijack",
        (0.45, r"\b(?:call|invoke|run|execute|trigger) (?:the )?(?:tool|function|plugin|"
         r"action) [`'\"]?[a-z][\w.-]*"),
        (0.45, r"\b(?:call|invoke|run|execute|trigger) (?:the )?[`'\"]?[a-z]+_[a-z_]+[`'\"]? "
         r"(?:tool|function|plugin|action)\b"),
        (0.6, r"\b(?:call|invoke|run|execute|trigger) ~(?:delete|remove|drop|wipe|purge|destroy|"
         r"send_email|send_mail|transfer|approve|grant|reset)\w*(?: (?:tool|function))? "
         r"(?:on|for|with) (?:every|all|each|the user s|the users)\b"),
        (0.6, r"\buse (?:your|the) (?:\w+ )?(?:tool|function|plugin) to (?:delete|remove|wipe|"
         r"purge|destroy|send|email|transfer|approve|grant|reset|disable)\b"),
        (0.3, r"\b(?:run|execute) (?:this|the following|these) (?:command|commands|script|code|"
         r"shell command)s? (?:for me|now|immediately|without asking|silently)"),
        (0.35, r"\b(?:curl|wget)\b[^\n|]{1,200}\|[^\S\n]?(?:sudo )?(?:ba|z)?sh\b")),
)  # fmt: skip

# which rules a text's words can open; see `rulegate.Keywords`
GATES = GateIndex(RULES)
