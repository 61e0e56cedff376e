"""Linked Telegram chats for staff: who linked which chat, the organization it acts on and when it
last sent a command; unlinking is an action (audited, source admin). Links are made only by the
member, with a code, so nothing here adds or edits one. Staff who are not superusers see the links
of members of their own organizations."""

from django.contrib import admin, messages

from chatops.models import TelegramLink
from chatops.services import link_remove
from core.events import EventSource
from organizations.models import Membership, Role
from organizations.tenancy import organization_ids_for_user


@admin.register(TelegramLink)
class TelegramLinkAdmin(admin.ModelAdmin):
    list_display = ["user", "username", "chat_id", "organization", "linked_at", "last_command_at"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "username", "chat_id"]
    readonly_fields = list_display
    actions = ["unlink"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        members = Membership.objects.filter(organization_id__in=organization_ids_for_user(request.user))
        return queryset.filter(user_id__in=members.values("user_id"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Unlink the selected chats")
    def unlink(self, request, queryset):
        mine = set(
            Membership.objects.filter(user=request.user, role__in=[Role.ADMIN, Role.OWNER]).values_list(
                "organization_id", flat=True
            )
        )
        done, refused = 0, 0
        for link in queryset:
            theirs = set(Membership.objects.filter(user_id=link.user_id).values_list("organization_id", flat=True))
            if request.user.is_superuser or theirs & mine:
                link_remove(link=link, source=EventSource.ADMIN)
                done += 1
            else:
                refused += 1
        if done:
            self.message_user(request, f"Unlinked: {done}.", messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                f"Not unlinked: {refused} (the admin role in one of the member's organizations is needed).",
                messages.ERROR,
            )
