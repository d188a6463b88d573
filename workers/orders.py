"""Worker process for the `orders` task queue."""

from messages import queues
from workers.runner import main

if __name__ == "__main__":
    main([queues.ORDERS])
