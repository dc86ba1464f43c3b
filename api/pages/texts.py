"""The director page's words in each language the service speaks (fr, nl, en, de).

One catalogue rather than one template per language (as email_templates/ does): the pages share
one layout and differ only by these sentences, and a test checks every language has every key.
Placeholders are `str.format` names; the values are escaped by the template, never pre-escaped.
"""

from __future__ import annotations

LANGUAGES = ("fr", "nl", "en", "de")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invitation_title": "Invitation from {partner}",
        "greeting": "Hello {name},",
        "intro": "{partner} has prepared the online space of {client} and invites you to "
        "create your access.",
        "intro_no_client": "{partner} invites you to create your access to its online space.",
        "themes_intro": "You will have access to the following themes:",
        "expires": "This invitation expires on {date}.",
        "accept_heading": "Accept the invitation",
        "accept_explain": "The link works once: after you accept, it cannot be used again.",
        "accept_button": "Accept the invitation",
        "accepted_title": "Invitation accepted",
        "accepted_body": "Thank you, your acceptance is recorded. {partner} has been told and "
        "will finish preparing your access.",
        "close_page": "You can close this page.",
        "used_title": "This invitation was already used",
        "used_body": "This link has already been used to accept the invitation; it works only "
        "once. If you did not accept it yourself, ask {partner} to send you a new invitation.",
        "replaced_title": "This link was replaced by a newer one",
        "replaced_body": "{partner} sent you a newer invitation that replaces this one. Use the "
        "link in the most recent e-mail, or ask {partner} for a new link.",
        "expired_title": "This invitation has expired",
        "expired_body": "The link is no longer valid. Ask {partner} to send you a new invitation.",
        "unknown_title": "Unknown invitation link",
        "unknown_body": "This link is not valid. Check that you opened the whole link from the "
        "e-mail, or ask the firm that invited you for a new one.",
        "refused_title": "Please confirm again",
        "refused_body": "We could not check that this confirmation came from this page, so "
        "nothing was recorded. Press the button below to accept the invitation.",
        "unavailable_title": "Please try again in a moment",
        "unavailable_body": "Your acceptance could not be recorded just now and nothing was "
        "changed. Press the button again in a moment.",
        "questions": "Any questions? Write to {email}.",
        "footer": "Invitation sent by {partner}.",
        "the_firm": "the firm that invited you",
        "checklist_title": "What {partner} asks of you",
        "checklist_intro": "Answer the questions and add the documents below. You can save part of "
        "it now and come back with the same link.",
        "checklist_link": "Next: answer what {partner} asks of you",
        "checklist_optional": "(optional)",
        "checklist_current_file": "Received: {name}",
        "checklist_save": "Save my answers",
        "checklist_saved": "Your answers are saved.",
        "checklist_complete": "Thank you: everything required has been provided.",
        "checklist_invalid": "Some answers could not be saved; see the messages below.",
        "checklist_invalid_item": "Not saved: {reason}",
    },
    "fr": {
        "invitation_title": "Invitation de {partner}",
        "greeting": "Bonjour {name},",
        "intro": "{partner} a préparé l'espace en ligne de {client} et vous invite à y créer "
        "votre accès.",
        "intro_no_client": "{partner} vous invite à créer votre accès à son espace en ligne.",
        "themes_intro": "Vous aurez accès aux thèmes suivants :",
        "expires": "Cette invitation expire le {date}.",
        "accept_heading": "Accepter l'invitation",
        "accept_explain": "Le lien ne sert qu'une fois : après acceptation, il ne pourra plus "
        "être utilisé.",
        "accept_button": "Accepter l'invitation",
        "accepted_title": "Invitation acceptée",
        "accepted_body": "Merci, votre acceptation est enregistrée. {partner} en est informé et "
        "finalise la préparation de votre accès.",
        "close_page": "Vous pouvez fermer cette page.",
        "used_title": "Cette invitation a déjà été utilisée",
        "used_body": "Ce lien a déjà servi à accepter l'invitation ; il ne fonctionne qu'une "
        "fois. Si ce n'est pas vous qui l'avez acceptée, demandez à {partner} de vous envoyer "
        "une nouvelle invitation.",
        "replaced_title": "Ce lien a été remplacé par un plus récent",
        "replaced_body": "{partner} vous a envoyé une invitation plus récente qui remplace "
        "celle-ci. Utilisez le lien du dernier e-mail reçu, ou demandez un nouveau lien à "
        "{partner}.",
        "expired_title": "Cette invitation a expiré",
        "expired_body": "Le lien n'est plus valable. Demandez à {partner} de vous envoyer une "
        "nouvelle invitation.",
        "unknown_title": "Lien d'invitation inconnu",
        "unknown_body": "Ce lien n'est pas valable. Vérifiez que vous avez ouvert le lien "
        "complet de l'e-mail, ou demandez-en un nouveau au cabinet qui vous a invité.",
        "refused_title": "Merci de confirmer à nouveau",
        "refused_body": "Nous n'avons pas pu vérifier que cette confirmation venait de cette "
        "page : rien n'a été enregistré. Appuyez sur le bouton ci-dessous pour accepter "
        "l'invitation.",
        "unavailable_title": "Réessayez dans un instant",
        "unavailable_body": "Votre acceptation n'a pas pu être enregistrée pour le moment et rien "
        "n'a été modifié. Appuyez à nouveau sur le bouton dans un instant.",
        "questions": "Une question ? Écrivez à {email}.",
        "footer": "Invitation envoyée par {partner}.",
        "the_firm": "le cabinet qui vous a invité",
        "checklist_title": "Ce que {partner} vous demande",
        "checklist_intro": "Répondez aux questions et ajoutez les documents ci-dessous. Vous "
        "pouvez en enregistrer une partie et revenir plus tard avec le même lien.",
        "checklist_link": "Étape suivante : répondre à ce que {partner} vous demande",
        "checklist_optional": "(facultatif)",
        "checklist_current_file": "Reçu : {name}",
        "checklist_save": "Enregistrer mes réponses",
        "checklist_saved": "Vos réponses sont enregistrées.",
        "checklist_complete": "Merci : tout ce qui est requis a été fourni.",
        "checklist_invalid": "Certaines réponses n'ont pas pu être enregistrées ; voyez les "
        "messages ci-dessous.",
        "checklist_invalid_item": "Non enregistré : {reason}",
    },
    "nl": {
        "invitation_title": "Uitnodiging van {partner}",
        "greeting": "Beste {name},",
        "intro": "{partner} heeft de online omgeving van {client} klaargezet en nodigt u uit "
        "om er uw toegang aan te maken.",
        "intro_no_client": "{partner} nodigt u uit om uw toegang tot de online omgeving aan te "
        "maken.",
        "themes_intro": "U krijgt toegang tot de volgende thema's:",
        "expires": "Deze uitnodiging verloopt op {date}.",
        "accept_heading": "Uitnodiging aanvaarden",
        "accept_explain": "De link werkt één keer: na aanvaarding kan hij niet opnieuw worden "
        "gebruikt.",
        "accept_button": "Uitnodiging aanvaarden",
        "accepted_title": "Uitnodiging aanvaard",
        "accepted_body": "Bedankt, uw aanvaarding is geregistreerd. {partner} is op de hoogte "
        "gebracht en rondt de voorbereiding van uw toegang af.",
        "close_page": "U kunt deze pagina sluiten.",
        "used_title": "Deze uitnodiging is al gebruikt",
        "used_body": "Deze link is al gebruikt om de uitnodiging te aanvaarden; hij werkt maar "
        "één keer. Heeft u ze niet zelf aanvaard, vraag {partner} dan om een nieuwe uitnodiging.",
        "replaced_title": "Deze link is vervangen door een nieuwere",
        "replaced_body": "{partner} heeft u een nieuwere uitnodiging gestuurd die deze vervangt. "
        "Gebruik de link in de meest recente e-mail, of vraag {partner} om een nieuwe link.",
        "expired_title": "Deze uitnodiging is verlopen",
        "expired_body": "De link is niet meer geldig. Vraag {partner} om u een nieuwe "
        "uitnodiging te sturen.",
        "unknown_title": "Onbekende uitnodigingslink",
        "unknown_body": "Deze link is niet geldig. Controleer of u de volledige link uit de "
        "e-mail hebt geopend, of vraag het kantoor dat u uitnodigde om een nieuwe.",
        "refused_title": "Bevestig opnieuw",
        "refused_body": "We konden niet nagaan dat deze bevestiging van deze pagina kwam; er is "
        "niets geregistreerd. Klik op de knop hieronder om de uitnodiging te aanvaarden.",
        "unavailable_title": "Probeer het zo meteen opnieuw",
        "unavailable_body": "Uw aanvaarding kon nu niet worden geregistreerd en er is niets "
        "gewijzigd. Klik over een ogenblik opnieuw op de knop.",
        "questions": "Heeft u een vraag? Schrijf naar {email}.",
        "footer": "Uitnodiging verstuurd door {partner}.",
        "the_firm": "het kantoor dat u uitnodigde",
        "checklist_title": "Wat {partner} u vraagt",
        "checklist_intro": "Beantwoord de vragen en voeg de documenten hieronder toe. U kunt een "
        "deel nu bewaren en later terugkomen met dezelfde link.",
        "checklist_link": "Volgende stap: beantwoorden wat {partner} u vraagt",
        "checklist_optional": "(optioneel)",
        "checklist_current_file": "Ontvangen: {name}",
        "checklist_save": "Mijn antwoorden bewaren",
        "checklist_saved": "Uw antwoorden zijn bewaard.",
        "checklist_complete": "Bedankt: alles wat vereist is, werd aangeleverd.",
        "checklist_invalid": "Sommige antwoorden konden niet worden bewaard; zie de berichten "
        "hieronder.",
        "checklist_invalid_item": "Niet bewaard: {reason}",
    },
    "de": {
        "invitation_title": "Einladung von {partner}",
        "greeting": "Guten Tag {name},",
        "intro": "{partner} hat den Online-Bereich von {client} vorbereitet und lädt Sie ein, "
        "dort Ihren Zugang einzurichten.",
        "intro_no_client": "{partner} lädt Sie ein, Ihren Zugang zu seinem Online-Bereich "
        "einzurichten.",
        "themes_intro": "Sie erhalten Zugriff auf folgende Themen:",
        "expires": "Diese Einladung läuft am {date} ab.",
        "accept_heading": "Einladung annehmen",
        "accept_explain": "Der Link funktioniert einmal: Nach der Annahme kann er nicht erneut "
        "verwendet werden.",
        "accept_button": "Einladung annehmen",
        "accepted_title": "Einladung angenommen",
        "accepted_body": "Vielen Dank, Ihre Annahme ist gespeichert. {partner} wurde informiert "
        "und schließt die Einrichtung Ihres Zugangs ab.",
        "close_page": "Sie können diese Seite schließen.",
        "used_title": "Diese Einladung wurde bereits verwendet",
        "used_body": "Mit diesem Link wurde die Einladung bereits angenommen; er funktioniert "
        "nur einmal. Wenn Sie sie nicht selbst angenommen haben, bitten Sie {partner} um eine "
        "neue Einladung.",
        "replaced_title": "Dieser Link wurde durch einen neueren ersetzt",
        "replaced_body": "{partner} hat Ihnen eine neuere Einladung geschickt, die diese ersetzt. "
        "Verwenden Sie den Link aus der neuesten E-Mail oder bitten Sie {partner} um einen "
        "neuen Link.",
        "expired_title": "Diese Einladung ist abgelaufen",
        "expired_body": "Der Link ist nicht mehr gültig. Bitten Sie {partner}, Ihnen eine neue "
        "Einladung zu senden.",
        "unknown_title": "Unbekannter Einladungslink",
        "unknown_body": "Dieser Link ist nicht gültig. Prüfen Sie, ob Sie den vollständigen Link "
        "aus der E-Mail geöffnet haben, oder bitten Sie die Kanzlei, die Sie eingeladen hat, um "
        "einen neuen.",
        "refused_title": "Bitte bestätigen Sie erneut",
        "refused_body": "Wir konnten nicht prüfen, ob diese Bestätigung von dieser Seite kam; es "
        "wurde nichts gespeichert. Klicken Sie auf die Schaltfläche unten, um die Einladung "
        "anzunehmen.",
        "unavailable_title": "Bitte versuchen Sie es gleich noch einmal",
        "unavailable_body": "Ihre Annahme konnte gerade nicht gespeichert werden, es wurde "
        "nichts geändert. Klicken Sie in einem Moment erneut auf die Schaltfläche.",
        "questions": "Fragen? Schreiben Sie an {email}.",
        "footer": "Einladung gesendet von {partner}.",
        "the_firm": "die Kanzlei, die Sie eingeladen hat",
        "checklist_title": "Was {partner} von Ihnen benötigt",
        "checklist_intro": "Beantworten Sie die Fragen und fügen Sie die Dokumente unten hinzu. "
        "Sie können einen Teil jetzt speichern und später mit demselben Link zurückkehren.",
        "checklist_link": "Nächster Schritt: beantworten, was {partner} von Ihnen benötigt",
        "checklist_optional": "(optional)",
        "checklist_current_file": "Erhalten: {name}",
        "checklist_save": "Meine Antworten speichern",
        "checklist_saved": "Ihre Antworten sind gespeichert.",
        "checklist_complete": "Vielen Dank: Alles Erforderliche liegt vor.",
        "checklist_invalid": "Einige Antworten konnten nicht gespeichert werden; siehe die "
        "Hinweise unten.",
        "checklist_invalid_item": "Nicht gespeichert: {reason}",
    },
}
