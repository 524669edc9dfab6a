"""The functions' Firestore client: the library's client on a channel that reads server streams on the
calling thread, against the emulator and in production; and a doctor's two-document read over it, against
a loopback gRPC server that answers as Firestore does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.api_core import grpc_helpers
from google.api_core.exceptions import PermissionDenied
from google.auth.credentials import AnonymousCredentials
from google.cloud.firestore_v1 import Client, _helpers
from google.cloud.firestore_v1.types import BatchGetDocumentsRequest, BatchGetDocumentsResponse, Document

from telehealth.store import direct
from telehealth.store.client import STREAMS_ON_CALLING_THREAD, FunctionsClient

WRITTEN = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)


def channel_of(client: Client) -> Any:
    return client._firestore_api._transport.grpc_channel


def test_against_the_emulator_the_channel_reads_streams_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    ours = FunctionsClient(project="p", credentials=AnonymousCredentials())
    plain = Client(project="p", credentials=AnonymousCredentials())
    assert channel_of(ours)._single_threaded_unary_stream is True
    assert channel_of(plain)._single_threaded_unary_stream is False  # the option is ours, not the default
    assert isinstance(ours, Client)  # direct.py takes it for the real client


def test_the_emulator_channel_is_the_librarys_plus_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    made: list[tuple[str, Any]] = []
    real_insecure = grpc.insecure_channel

    def insecure_channel(target: str, options: Any = None, **kwargs: Any) -> Any:
        made.append((target, options))
        return real_insecure(target, options=options, **kwargs)

    monkeypatch.setattr(grpc, "insecure_channel", insecure_channel)
    FunctionsClient(project="p", credentials=AnonymousCredentials())._firestore_api  # noqa: B018 - builds the channel

    assert made == [
        (
            "127.0.0.1:1",
            [
                ("Authorization", "Bearer owner"),
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
                STREAMS_ON_CALLING_THREAD,
            ],
        )
    ]


def test_in_production_the_librarys_channel_options_are_kept_and_the_option_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    made: list[dict[str, Any]] = []
    real_create = grpc_helpers.create_channel

    def create_channel(target: str, **kwargs: Any) -> Any:
        made.append({"target": target, **kwargs})
        return real_create(target, **kwargs)

    monkeypatch.setattr(grpc_helpers, "create_channel", create_channel)
    credentials = AnonymousCredentials()
    channel = channel_of(FunctionsClient(project="p", credentials=credentials))

    assert channel._single_threaded_unary_stream is True
    [call] = made
    assert call["target"] == "firestore.googleapis.com"
    assert call["credentials"] is credentials
    assert call["options"] == [
        ("grpc.keepalive_time_ms", 30000),
        ("grpc.max_send_message_length", -1),
        ("grpc.max_receive_message_length", -1),
        STREAMS_ON_CALLING_THREAD,
    ]


class BatchGetServer:
    """A loopback Firestore that answers BatchGetDocuments by name, in reverse order; ``fail_after`` answers,
    it ends the stream with PERMISSION_DENIED."""

    def __init__(self, docs: dict[str, dict[str, Any]], fail_after: int | None = None) -> None:
        self.docs, self.fail_after = docs, fail_after
        self.requests: list[tuple[list[str], dict[str, str]]] = []
        handler = grpc.method_handlers_generic_handler(
            "google.firestore.v1.Firestore",
            {
                "BatchGetDocuments": grpc.unary_stream_rpc_method_handler(
                    self.batch_get,
                    request_deserializer=BatchGetDocumentsRequest.deserialize,
                    response_serializer=BatchGetDocumentsResponse.serialize,
                )
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def batch_get(self, request: Any, context: grpc.ServicerContext) -> Iterator[BatchGetDocumentsResponse]:
        self.requests.append((list(request.documents), dict(context.invocation_metadata())))
        for sent, name in enumerate(reversed(request.documents)):
            if self.fail_after is not None and sent >= self.fail_after:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
            path = name.split("/documents/", 1)[1]
            if path in self.docs:
                fields = _helpers.encode_dict(self.docs[path])
                yield BatchGetDocumentsResponse(found=Document(name=name, fields=fields, update_time=WRITTEN))
            else:
                yield BatchGetDocumentsResponse(missing=name)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    started: list[BatchGetServer] = []

    def start(docs: dict[str, dict[str, Any]], fail_after: int | None = None) -> tuple[BatchGetServer, Client]:
        server = BatchGetServer(docs, fail_after)
        started.append(server)
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{server.port}")
        return server, FunctionsClient(project="p", credentials=AnonymousCredentials())

    yield start
    for server in started:
        server.server.stop(grace=None)


def test_a_doctors_two_documents_over_the_channel_are_answered_by_name(serve: Any) -> None:
    server, client = serve({"appointments/a1": {"patientId": "p1"}})
    first, second = client.collection("appointments").document("a1"), client.collection("doctors").document("d1")

    answer = direct.read_two(client, first, second)

    assert answer == (direct.Read({"patientId": "p1"}, WRITTEN), direct.Read(None))
    [(names, metadata)] = server.requests
    assert names == [first._document_path, second._document_path]
    assert metadata["authorization"] == "Bearer owner"  # the library's emulator token
    assert metadata["google-cloud-resource-prefix"] == "projects/p/databases/(default)"


def test_a_stream_that_fails_after_one_answer_is_an_error(serve: Any) -> None:
    _, client = serve({"appointments/a1": {"patientId": "p1"}, "doctors/d1": {"active": True}}, fail_after=1)
    with pytest.raises(PermissionDenied):
        direct.read_two(client, client.collection("appointments").document("a1"), client.document("doctors/d1"))
