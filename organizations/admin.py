from django.contrib import admin, messages
from django.db.models import Count

from organizations.admin_base import OrganizationListFilter, OrganizationScopedAdmin, badge, changelist_link
from organizations.models import ApiKey, Membership, Organization, Role
from organizations.permissions import user_has_role
from organizations.services import api_key_create, api_key_revoke
from organizations.tenancy import organization_ids_for_user


def _is_owner(request, organization) -> bool:
    return organization is not None and user_has_role(user=request.user, organization=organization, role=Role.OWNER)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (request.user.is_superuser or _is_owner(request, obj))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (request.user.is_superuser or _is_owner(request, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (request.user.is_superuser or _is_owner(request, obj))


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    """Organizations with their members. The apps above add their own columns and actions by
    registering a subclass in their admin module (risk: the kill switch; bots: the bot count), so
    this app names none of them."""

    list_display = ["name", "slug", "is_active", "members", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def get_queryset(self, request):
        qs = super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))
        if not request.user.is_superuser:
            qs = qs.filter(pk__in=organization_ids_for_user(request.user))
        return qs

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if allowed and obj is not None and not request.user.is_superuser:
            return _is_owner(request, obj)
        return allowed

    @admin.display(ordering="member_count")
    def members(self, obj):
        return changelist_link(Membership, str(obj.member_count), organization=obj.pk)


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = [OrganizationListFilter, "role"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user"]
    write_role = Role.OWNER


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    list_display = ["name", "organization", "prefix", "scopes", "state", "created_at", "expires_at", "last_used_at"]
    list_filter = [OrganizationListFilter]
    search_fields = ["name", "prefix"]
    list_select_related = ["organization"]
    fields = [
        "organization",
        "name",
        "scopes",
        "expires_at",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    write_role = Role.OWNER

    @admin.display(description="state")
    def state(self, obj):
        if obj.revoked_at:
            return badge("disabled", "revoked")
        return badge("active", "usable") if obj.is_usable else badge("expired")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return [*self.readonly_fields, "organization", "scopes"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # New keys go through the service, which hashes the secret; the key is shown once, here.
        key, full_key = api_key_create(
            organization=obj.organization,
            name=obj.name,
            scopes=obj.scopes,
            expires_at=obj.expires_at,
            actor=request.user,
        )
        obj.pk, obj.prefix, obj.hashed_secret, obj.created_at = key.pk, key.prefix, key.hashed_secret, key.created_at
        self.message_user(request, f"Copy this key now, it will not be shown again: {full_key}", messages.WARNING)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        self.run_service(request, queryset, lambda key: api_key_revoke(api_key=key, actor=request.user), "Revoked")
