class DomainError(Exception):
    """A business rule said no.  Final: retrying the command cannot help."""

    code = "domain_error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class DuplicateSku(DomainError):
    code = "duplicate_sku"


class ProductAlreadyExists(DomainError):
    code = "product_exists"


class ProductNotFound(DomainError):
    code = "product_not_found"


class InsufficientStock(DomainError):
    code = "insufficient_stock"


class StockLimitExceeded(DomainError):
    code = "stock_limit"


class PriceLimitExceeded(DomainError):
    code = "price_limit"


class CurrencyMismatch(DomainError):
    code = "currency_mismatch"


class OrderAlreadyExists(DomainError):
    code = "order_exists"


class DuplicateOrderLine(DomainError):
    code = "duplicate_line"


class OrderNotFound(DomainError):
    code = "order_not_found"


class InvalidOrderStatus(DomainError):
    code = "invalid_order_status"
