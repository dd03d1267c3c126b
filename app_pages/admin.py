"""Administration: accounts and access grants (administrators only)."""

from operatorflow import ui, ui_admin

user = ui.require_user()
ui_admin.render_admin_page(ui.get_service(), ui.get_accounts(), user)
