"""Cookie names, in one place: the API sets them, state and pages read them."""

SESSION_COOKIE = "aether_session"
# The email typed into a log-in or sign-up form that failed, so the form can keep it.
FORM_EMAIL_COOKIE = "aether_form_email"
