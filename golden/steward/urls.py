"""/steward/: the data-steward workbench."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from golden.steward import views

app_name = "steward"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # The admin's login refuses non-staff users; stewards and viewers log in here.
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="steward/login.html",
            redirect_authenticated_user=True,
            next_page="steward:dashboard",
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="steward:login"), name="logout"),
    path("queue/", views.queue, name="queue"),
    path("compare/<int:pk>/", views.compare, name="compare"),
    path("compare/<int:pk>/take-over/", views.take_over, name="take_over"),
    path("compare/<int:pk>/release/", views.release, name="release"),
    path("compare/<int:pk>/merge/", views.merge, name="merge"),
    path("compare/<int:pk>/not-a-match/", views.not_a_match, name="not_a_match"),
    path("compare/<int:pk>/defer/", views.defer, name="defer"),
    path("records/<str:canonical_id>/", views.record, name="record"),
    path("records/<str:canonical_id>/pin/", views.pin, name="pin"),
    path("records/<str:canonical_id>/unpin/", views.unpin, name="unpin"),
    path("records/<str:canonical_id>/unmerge/", views.unmerge, name="unmerge"),
    path("records/<str:canonical_id>/undo-merge/", views.undo, name="undo_merge"),
    path("search/", views.search, name="search"),
    path("exceptions/", views.exceptions, name="exceptions"),
    path("exceptions/proposals/<int:pk>/", views.decide_proposal, name="decide_proposal"),
]
