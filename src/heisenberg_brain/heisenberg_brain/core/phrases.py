"""Every fixed sentence the robot speaks, one table per language (the language of the turn chooses).

What the LLM says comes from the model; everything else the robot says is written here: the
apology after a failed reply, the built-in skills' answers (core/skills/builtins.py fills the
numbers and names in), the words a ROS skill's reply falls back to. A language is added by adding
its table with every key of the English one (test_phrases checks that none is missing), and its
sentences to core/skills/matcher.py. Placeholders are ``str.format`` fields.

The French tables address the person with « vous », and put a space before « ? », « ! », « : »
and « ; » as French typography does (the sentence splitter knows it).
"""

from __future__ import annotations

from heisenberg_brain.core.config import LANGUAGES

PHRASES: dict[str, dict[str, str]] = {
    'en': {
        'apology': "Sorry, I can't answer that right now.",
        # a ROS skill's reply that cannot be filled (a result without the field it names)
        'skill.accepted': 'OK.',
        'skill.succeeded': 'Done.',
        'skill.failed': "Sorry, that didn't work.",
        'skill.cancelled': 'Stopped.',
        # the built-ins, as "what can you do?" reads them out (verb phrases)
        'does.time': 'tell the time',
        'does.date': 'tell the date',
        'does.timer': 'run timers',
        'does.name': 'remember your name',
        'does.stop': "stop what I'm doing",
        'does.help': 'say what I can do',
        'help': "I can {skills}. Anything else, I'll try to answer.",
        'and': 'and',
        'timer.too_short': 'A timer needs at least one second.',
        'timer.too_long': 'I can only set timers of up to 24 hours.',
        'timer.too_many': 'I already have {count} timers running; cancel one first.',
        'timer.set': 'Timer set for {duration}.',
        'timer.none': 'There is no timer running.',
        'timer.left': '{left} left on your {label} timer.',
        'timer.several': 'You have {count} timers.',
        'timer.left_each': 'The {label} timer has {left} left.',
        'timer.none_to_cancel': 'There is no timer to cancel.',
        'timer.cancelled': 'Timer cancelled.',
        'timer.cancelled_all': 'All {count} timers cancelled.',
        'timer.no_such': 'There is no {label} timer.',
        'timer.cancelled_one': '{label} timer cancelled.',
        'timer.rang': "Time's up! Your {label} timer is done.",
        'name.told': 'Nice to meet you, {name}.',
        'name.is': 'Your name is {name}.',
        'name.unknown': "You haven't told me your name yet.",
        # why a ROS skill failed: the {reason} of its failed reply
        'reason.no_robot': 'I have no connection to the robot',
        'reason.goal_unfilled': 'I could not fill the goal ({error})',
        'reason.action_silent': 'the {name} action server did not answer within {seconds}',
        'reason.send_failed': 'sending the goal to the {name} action server failed',
        'reason.too_long': 'it took longer than {seconds}',
        'reason.goal_lost': 'the {name} action server lost the goal',
        'reason.gave_up': 'the {name} action server gave up on the goal',
        'reason.service_silent': 'the {name} service did not answer within {seconds}',
        'reason.service_failed': 'calling the {name} service failed',
        'reason.service_refused': 'the {name} service reported a failure',
        'reason.publish_failed': 'publishing on {name} failed',
        'reason.no_message': 'no message came on {name} within {seconds}',
        'reason.read_failed': 'reading {name} failed',
        # ... as the ROS side finds it (nodes/skill_effects.py)
        'reason.action_missing': 'the {name} action server is not running',
        'reason.goal_not_taken': 'the {name} action server did not take the goal',
        'reason.goal_rejected': 'the {name} action server rejected the goal',
        'reason.goal_not_accepted': 'the {name} action server did not accept the goal within {seconds}',
        'reason.service_missing': 'the {name} service is not running',
        'reason.service_no_answer': 'the {name} service did not answer',
        'reason.no_field': 'a {type} message has no field {field}',
        'reason.type_missing': 'the {type} type of {package} is not installed',
        'reason.misfit.goal': 'the field {field} does not fit the {type} goal',
        'reason.misfit.request': 'the field {field} does not fit the {type} request',
        'reason.misfit.message': 'the field {field} does not fit the {type} message',
        'reason.type_needed.goal': 'a type the {type} goal needs is not installed',
        'reason.type_needed.request': 'a type the {type} request needs is not installed',
        'reason.type_needed.message': 'a type the {type} message needs is not installed',
    },
    'fr': {
        'apology': 'Désolé, je ne peux pas répondre pour le moment.',
        'skill.accepted': "D'accord.",
        'skill.succeeded': "C'est fait.",
        'skill.failed': "Désolé, ça n'a pas marché.",
        'skill.cancelled': 'Arrêté.',
        'does.time': "donner l'heure",
        'does.date': 'donner la date',
        'does.timer': 'gérer des minuteurs',
        'does.name': 'retenir votre nom',
        'does.stop': 'arrêter ce que je fais',
        'does.help': 'dire ce que je sais faire',
        'help': "Je sais {skills}. Pour le reste, j'essaierai de répondre.",
        'and': 'et',
        'timer.too_short': 'Un minuteur dure au moins une seconde.',
        'timer.too_long': 'Je ne règle que des minuteurs de 24 heures au plus.',
        'timer.too_many': "J'ai déjà {count} minuteurs en cours : annulez-en un d'abord.",
        'timer.set': 'Minuteur de {duration} lancé.',
        'timer.none': "Il n'y a aucun minuteur en cours.",
        'timer.left': 'Il reste {left} sur votre minuteur de {label}.',
        'timer.several': 'Vous avez {count} minuteurs.',
        'timer.left_each': 'Il reste {left} au minuteur de {label}.',
        'timer.none_to_cancel': "Il n'y a aucun minuteur à annuler.",
        'timer.cancelled': 'Minuteur annulé.',
        'timer.cancelled_all': 'Les {count} minuteurs sont annulés.',
        'timer.no_such': "Il n'y a pas de minuteur de {label}.",
        'timer.cancelled_one': 'Minuteur de {label} annulé.',
        'timer.rang': "C'est l'heure ! Votre minuteur de {label} est terminé.",
        'name.told': 'Enchanté, {name}.',
        'name.is': 'Vous vous appelez {name}.',
        'name.unknown': "Vous ne m'avez pas encore dit votre nom.",
        'reason.no_robot': "je n'ai pas de connexion avec le robot",
        'reason.goal_unfilled': "je n'ai pas pu remplir l'objectif ({error})",
        'reason.action_silent': "le serveur d'action {name} n'a pas répondu en {seconds}",
        'reason.send_failed': "l'envoi de l'objectif au serveur d'action {name} a échoué",
        'reason.too_long': 'cela a pris plus de {seconds}',
        'reason.goal_lost': "le serveur d'action {name} a perdu l'objectif",
        'reason.gave_up': "le serveur d'action {name} a abandonné l'objectif",
        'reason.service_silent': "le service {name} n'a pas répondu en {seconds}",
        'reason.service_failed': "l'appel du service {name} a échoué",
        'reason.service_refused': 'le service {name} a signalé un échec',
        'reason.publish_failed': 'la publication sur {name} a échoué',
        'reason.no_message': "aucun message n'est arrivé sur {name} en {seconds}",
        'reason.read_failed': 'la lecture de {name} a échoué',
        'reason.action_missing': "le serveur d'action {name} n'est pas lancé",
        'reason.goal_not_taken': "le serveur d'action {name} n'a pas pris l'objectif",
        'reason.goal_rejected': "le serveur d'action {name} a refusé l'objectif",
        'reason.goal_not_accepted': "le serveur d'action {name} n'a pas accepté l'objectif en {seconds}",
        'reason.service_missing': "le service {name} n'est pas lancé",
        'reason.service_no_answer': "le service {name} n'a pas répondu",
        'reason.no_field': "un message {type} n'a pas de champ {field}",
        'reason.type_missing': "le type {type} de {package} n'est pas installé",
        'reason.misfit.goal': "le champ {field} ne convient pas à l'objectif {type}",
        'reason.misfit.request': 'le champ {field} ne convient pas à la requête {type}',
        'reason.misfit.message': 'le champ {field} ne convient pas au message {type}',
        'reason.type_needed.goal': "un type dont l'objectif {type} a besoin n'est pas installé",
        'reason.type_needed.request': "un type dont la requête {type} a besoin n'est pas installé",
        'reason.type_needed.message': "un type dont le message {type} a besoin n'est pas installé",
    },
}

# Time units (singular, plural), weekdays from Monday, months from January.
UNITS: dict[str, dict[str, tuple[str, str]]] = {
    'en': {'hour': ('hour', 'hours'), 'minute': ('minute', 'minutes'), 'second': ('second', 'seconds')},
    'fr': {'hour': ('heure', 'heures'), 'minute': ('minute', 'minutes'), 'second': ('seconde', 'secondes')},
}
WEEKDAYS: dict[str, tuple[str, ...]] = {
    'en': ('Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'),
    'fr': ('lundi', 'mardi', 'mercredi', 'jeudi', 'vendredi', 'samedi', 'dimanche'),
}
MONTHS: dict[str, tuple[str, ...]] = {
    'en': ('January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
           'October', 'November', 'December'),
    'fr': ('janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre',
           'novembre', 'décembre'),
}


def seconds_words(value: float, language: str = 'en') -> str:
    """'1 second', '0.05 seconds'; « 5 secondes », « 0,05 seconde » (a decimal comma in French)."""
    singular, plural = UNITS[language]['second']
    number = f'{value:g}' if language == 'en' else f'{value:g}'.replace('.', ',')
    return f'{number} {singular if value == 1 or (language == "fr" and value < 2) else plural}'


def phrase(key: str, language: str = 'en', **values) -> str:
    """The sentence `key` in `language` (one of config.LANGUAGES), its placeholders filled."""
    if language not in LANGUAGES:
        raise ValueError(f'language must be one of {LANGUAGES}, got {language!r}')
    return PHRASES[language][key].format(**values)
