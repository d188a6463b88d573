"""``ApplicationError.type`` values: business failures the saga matches on (never retried)."""

OUT_OF_STOCK = "OutOfStock"
PAYMENT_DECLINED = "PaymentDeclined"
UNKNOWN_PRODUCT = "UnknownProduct"
CANCEL_REFUSED = "CancelRefused"
# A retry sent to an order that is not parked in NEEDS_ATTENTION.
RETRY_REFUSED = "RetryRefused"

# Refusals that mean a bug or a stray late attempt, not a customer's problem; retrying
# cannot change them, so they are non-retryable and surface to an operator.
INVALID_ORDER = "InvalidOrder"
# A step asked of an order in a status that does not allow it (reserving a cancelled order,
# charging one that was never reserved).
WRONG_ORDER_STATUS = "WrongOrderStatus"
# The outcome the saga announces is not reachable from the order's recorded status.
ILLEGAL_TRANSITION = "IllegalTransition"
UNKNOWN_NOTIFICATION_TYPE = "UnknownNotificationType"
# The payment provider refused a request as malformed (a bug, not a decline).
GATEWAY_REFUSED = "GatewayRefused"
