"""The exception family of the assistant (answering, service, CLI)."""


class AssistantError(Exception):
    """Base class for every error the assistant reports to a user."""


class InvalidQuestion(AssistantError):
    """The question is empty or too long."""


class EmptyIndex(AssistantError):
    """There is nothing indexed to answer from."""


class DocumentNotFound(AssistantError):
    """No document has the given id."""


class IndexMismatch(AssistantError):
    """The index on disk was built with another embedding model."""


class CollectionMismatch(AssistantError):
    """The Chroma collection holds the chunks of another index directory."""


class InvalidSettings(AssistantError):
    """A setting (an ``ASSISTANT_*`` environment variable, ``.env`` or an override) has a bad value."""


class UploadTooLarge(AssistantError):
    """An uploaded file is over ``settings.max_upload_mb``."""


class UnsupportedUpload(AssistantError):
    """An uploaded file's type is not one the loaders read."""


class UploadFailed(AssistantError):
    """An uploaded file could not be ingested (unreadable, empty, ...)."""


class WriteBusy(AssistantError):
    """Another write (ingest, upload, delete) held the index longer than ``settings.write_wait_s``."""

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
