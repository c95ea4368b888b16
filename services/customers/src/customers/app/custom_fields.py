"""The tenant's custom field definitions (configuration, no data scope)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import Aborted, AlreadyExists, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.app.ports import CustomFieldKeyTaken, UnitOfWork
from customers.domain.model import CustomFieldDefinition, validate_custom_field_definition

CUSTOM_FIELD = "crosstalk.io/CustomFieldDefinition"


def custom_field_name(definition_id: str) -> str:
    return f"customFieldDefinitions/{definition_id}"


@dataclass(frozen=True)
class CustomFieldService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def create(self, draft: CustomFieldDefinition) -> CustomFieldDefinition:
        now = utc_now()
        definition = validate_custom_field_definition(
            replace(draft, id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1)
        )
        async with self.new_uow() as uow:
            try:
                await uow.fields.add(definition)
            except CustomFieldKeyTaken:
                raise AlreadyExists(CUSTOM_FIELD, definition.key) from None
            await uow.commit()
        return definition

    async def get(self, tenant_id: str, definition_id: str) -> CustomFieldDefinition:
        async with self.new_uow() as uow:
            found = await uow.fields.get(tenant_id, definition_id)
        if found is None:
            raise NotFound(CUSTOM_FIELD, custom_field_name(definition_id))
        return found

    async def page(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[CustomFieldDefinition]:
        async with self.new_uow() as uow:
            return await uow.fields.page(tenant_id, after=after, limit=limit)

    async def update(
        self, tenant_id: str, definition_id: str, changes: dict[str, object], etag: str
    ) -> CustomFieldDefinition:
        """key and type are immutable; values customers already hold are not re-checked."""
        name = custom_field_name(definition_id)
        async with self.new_uow() as uow:
            current = await uow.fields.get(tenant_id, definition_id)
            if current is None:
                raise NotFound(CUSTOM_FIELD, name)
            check_etag(etag, current.etag, name)
            updated = validate_custom_field_definition(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            if not await uow.fields.save(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, definition_id: str, etag: str) -> None:
        """Also removes the field's values from every customer of the tenant."""
        name = custom_field_name(definition_id)
        async with self.new_uow() as uow:
            current = await uow.fields.get(tenant_id, definition_id)
            if current is None:
                raise NotFound(CUSTOM_FIELD, name)
            check_etag(etag, current.etag, name)
            await uow.fields.delete(tenant_id, definition_id, current.key)
            await uow.commit()
