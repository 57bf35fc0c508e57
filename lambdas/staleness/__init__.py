"""The staleness function: publishes the champion's age on a schedule, for the champion-age alarm."""
