"""One adapter per target API behind one small interface (see ``base``)."""
