from rest_framework.pagination import CursorPagination


class CanonicalIdCursorPagination(CursorPagination):
    """Stable cursor pages in creation order, so syncing clients never skip a record."""

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = 500
