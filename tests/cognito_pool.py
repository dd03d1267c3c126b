"""User pools and app clients on a local moto server, and settings that point CognitoAccounts at them."""

from __future__ import annotations

import dataclasses
import uuid

from operatorflow.settings import Settings, load_settings
from tests.aws import MotoServer

PASSWORD = "Lovelace#1843"
PASSWORD_POLICY = {
    "MinimumLength": 10,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
}


@dataclasses.dataclass
class Pool:
    moto: MotoServer
    pool_id: str
    client_id: str
    client_secret: str | None

    def settings(self, home, **overrides) -> Settings:
        values = {
            "home": home,
            "auth_mode": "cognito",
            "cognito_user_pool_id": self.pool_id,
            "cognito_client_id": self.client_id,
            "cognito_client_secret": self.client_secret or "",
            "cognito_endpoint_url": self.moto.endpoint_url,
        }
        values.update(overrides)
        return load_settings(**values)

    def admin(self):
        return self.moto.client("cognito-idp")

    def add_confirmed_user(self, user_name: str, password: str = PASSWORD, email: str | None = None) -> None:
        admin = self.admin()
        admin.admin_create_user(
            UserPoolId=self.pool_id, Username=user_name, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email or f"{user_name}@example.com"}],
        )
        admin.admin_set_user_password(UserPoolId=self.pool_id, Username=user_name, Password=password, Permanent=True)

    def add_user_with_temporary_password(self, user_name: str, temporary_password: str) -> None:
        self.admin().admin_create_user(
            UserPoolId=self.pool_id, Username=user_name, TemporaryPassword=temporary_password,
            MessageAction="SUPPRESS", UserAttributes=[{"Name": "email", "Value": f"{user_name}@example.com"}],
        )

    def user_status(self, user_name: str) -> str:
        return self.admin().admin_get_user(UserPoolId=self.pool_id, Username=user_name)["UserStatus"]


def create_pool(moto: MotoServer, with_secret: bool) -> Pool:
    admin = moto.client("cognito-idp")
    pool_id = admin.create_user_pool(
        PoolName=f"operatorflow-{uuid.uuid4().hex[:8]}",
        Policies={"PasswordPolicy": PASSWORD_POLICY},
        AutoVerifiedAttributes=["email"],
        AccountRecoverySetting={"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
    )["UserPool"]["Id"]
    client = admin.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="operatorflow",
        GenerateSecret=with_secret,
        ReadAttributes=["email"],
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    return Pool(moto=moto, pool_id=pool_id, client_id=client["ClientId"], client_secret=client.get("ClientSecret"))
