"""The API's settings: who may call it and what a request may hold (``ORDERS_AUTH__*``,
``ORDERS_API__*``).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from config.dev_defaults import DEV_AUDIENCE, DEV_ISSUER, DEV_JWT_SECRET

JWKS_ALGORITHMS = ("RS256", "ES256")
SECRET_ALGORITHMS = ("HS256",)


class AuthSettings(BaseModel):
    # Production verifies against the identity provider's JWKS; dev may use a shared secret.
    jwks_url: str = ""
    jwt_secret: str = DEV_JWT_SECRET
    # Unset: RS256 and ES256 with a JWKS (public keys), HS256 with the shared secret.
    algorithms: list[str] = Field(default_factory=list)
    audience: str = DEV_AUDIENCE
    issuer: str = DEV_ISSUER
    # Role names as the identity provider issues them (Keycloak realm or client roles):
    # customers act on their own orders; support reads every order; operators also retry,
    # cancel and refund, and decode payloads; catalog admins manage products and stock.
    customer_role: str = "customer"
    support_role: str = "support"
    operator_role: str = "operator"
    catalog_admin_role: str = "catalog-admin"
    # Whose client roles count (`resource_access.<client>.roles`); empty: the audience.
    client_id: str = ""

    @model_validator(mode="after")
    def _algorithms_for_the_key_source(self) -> AuthSettings:
        if not self.algorithms:
            self.algorithms = list(JWKS_ALGORITHMS if self.jwks_url else SECRET_ALGORITHMS)
        return self

    @property
    def usable_algorithms(self) -> list[str]:
        """The algorithms a token may be signed with here. With a JWKS no HMAC algorithm:
        one would let a token be "signed" with the public key (algorithm confusion)."""
        if self.jwks_url:
            return [name for name in self.algorithms if not name.upper().startswith("HS")]
        return [name for name in self.algorithms if name.upper().startswith("HS")]


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    # The payload codec (it decrypts customers' data for operators): mounted at /codec on the
    # public port as well when true (dev); a deployment sets false and runs
    # `python -m api.codec` on codec_port, off the public ingress.
    serve_codec: bool = True
    codec_port: int = Field(default=8001, ge=1, le=65535)
    # `python -m api.codec` over HTTPS with this certificate and key (PEM), both or neither.
    # The Web UI passes a signed-in user's access token only to an https:// codec endpoint;
    # unset where TLS ends in front of the process (an ingress, a mesh).
    codec_tls_cert_path: str = ""
    codec_tls_key_path: str = ""
    max_items_per_order: int = Field(default=50, ge=1)
    max_quantity_per_item: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    # How long each API process reuses a product's price read from the catalog: a price
    # changed in the database reaches new orders within this time (api/services/catalog.py).
    # 0 = read the catalog for every order.
    catalog_cache_seconds: float = Field(default=10.0, ge=0)
    # Holds the maintenance switch on whatever operators set (PUT /maintenance): a
    # deployment's way to keep new orders out across a risky change, from its values.
    maintenance: bool = False
    # The Retry-After of the 503 new orders get while the switch is on, unless the operator
    # who set it gave one.
    maintenance_retry_after_seconds: int = Field(default=300, ge=1, le=86_400)
    # How long each API process trusts the switch it last read: an operator's change
    # reaches every process within this time. 0 = read it for every new order.
    maintenance_check_seconds: float = Field(default=2.0, ge=0, le=60)

    @model_validator(mode="after")
    def _codec_tls_whole(self) -> ApiSettings:
        if bool(self.codec_tls_cert_path) != bool(self.codec_tls_key_path):
            raise ValueError(
                "ORDERS_API__CODEC_TLS_CERT_PATH and ORDERS_API__CODEC_TLS_KEY_PATH go together: "
                "set both for HTTPS, or neither"
            )
        return self
