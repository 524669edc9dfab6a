"""The functions' Firestore client: the library's own ``Client``, on a channel that reads server streams
on the calling thread.

grpc-python normally hands each message of a server stream (``BatchGetDocuments``: a doctor's two
documents; ``RunQuery``: every query) from a poller thread to the thread that reads it. In an instance
serving eight requests on eight threads under one GIL, every hand-off waits for the GIL. Measured on
the serving stack of ``make bench``'s load run (bench/load_bench.py's servers and clients), 8 clients,
the two channels served side by side in interleaved turns: a doctor's two-document read took 23.8 ms
at the median on the default channel and 17.5 ms with grpc's ``SingleThreadedUnaryStream`` channel
option, while a unary read took 11 ms on either; the instance answered 4% more joins. Unary calls,
and the listeners' two-way streams, are not affected by the option.

Everything else is the library's: the same target, credentials, keep-alive and message-size options,
and against the emulator the same insecure channel and ``owner`` token.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.cloud.firestore_v1 import Client, base_client
from google.cloud.firestore_v1.services.firestore import client as firestore_client
from google.cloud.firestore_v1.services.firestore.transports.grpc import FirestoreGrpcTransport

STREAMS_ON_CALLING_THREAD = (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)


class _Transport(FirestoreGrpcTransport):
    """The library's transport; its production channel gets the option too."""

    @classmethod
    def create_channel(cls, *args: Any, **kwargs: Any) -> grpc.Channel:
        kwargs["options"] = [*kwargs.get("options", ()), STREAMS_ON_CALLING_THREAD]
        channel: grpc.Channel = super().create_channel(*args, **kwargs)
        return channel


class FunctionsClient(Client):
    """``google.cloud.firestore_v1.Client`` whose channel reads server streams on the calling thread."""

    @property
    def _firestore_api(self) -> Any:
        return self._firestore_api_helper(_Transport, firestore_client.FirestoreClient, firestore_client)

    def _emulator_channel(self, transport: Any) -> grpc.Channel:
        # The library's emulator channel (its token: "owner" unless the credentials carry an ID token), plus the option.
        token = getattr(self._credentials, "id_token", None) or "owner"
        options = [("Authorization", f"Bearer {token}"), *base_client._GRPC_MSG_SIZE_OPTIONS, STREAMS_ON_CALLING_THREAD]
        return grpc.insecure_channel(self._emulator_host, options=options)
