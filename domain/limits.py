"""The service's numeric limits, declared once: the domain enforces them and
the web tier's schemas import them to refuse at the door."""

#: The largest integer every JSON client reads exactly (2**53 - 1): no
#: integer the service stores or returns is larger.
MAX_INT = 9_007_199_254_740_991

#: The most stock a product can hold (available and reserved together).
MAX_STOCK = MAX_INT

#: Lines on one order, and units on one line.
MAX_LINES = 50
MAX_QUANTITY = 1000

#: The highest price a product can have (about 1.8 billion in major units):
#: an order of ``MAX_LINES`` lines of ``MAX_QUANTITY`` units at this price
#: totals at most ``MAX_INT``.
MAX_PRICE_CENTS = MAX_INT // (MAX_LINES * MAX_QUANTITY)
