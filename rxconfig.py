"""Reflex configuration only; everything else comes from aether_web.settings (which also
gives the allowed CORS origins: the public URL's).

Every field can be overridden by REFLEX_<FIELD> (REFLEX_DB_URL, REFLEX_REDIS_URL, REFLEX_API_URL).
Without them, `DATABASE_URL` and `REDIS_URL` (as Fly sets them) are honoured.
"""

import reflex as rx

from aether_web.settings import database_url_from_env, get_settings, redis_url_from_env

config = rx.Config(
    # Reflex's default is "*" with credentials: only our own pages may call the backend.
    cors_allowed_origins=get_settings().browser_origins,
    app_name="aether_web",
    db_url=database_url_from_env(),
    redis_url=redis_url_from_env(),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.SitemapPlugin(),
        rx.plugins.TailwindV4Plugin(),
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="violet", radius="medium")),
    ],
)
