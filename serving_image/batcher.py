"""Adaptive batching: a bounded queue in front of one inference thread. Requests are stacked along
dimension 0, run together off the event loop, and their outputs are split back to each caller."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DeadlineExceeded, Overloaded, ServiceUnavailable, ServingError
from .metrics import Metrics

Inputs = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]
RunBatch = Callable[[Inputs], Outputs]
StackKey = tuple[tuple[str, str, tuple[int, ...]], ...]


@dataclass(slots=True, eq=False)
class _Pending:
    inputs: Inputs
    rows: int
    key: StackKey
    future: asyncio.Future[Outputs]
    enqueued: float  # time.perf_counter(), for batching and queue-time metrics
    deadline: float  # loop.time(), for the 504
    trace: Any = None  # with tracing on: the caller's trace context and the wall time it was queued (ns)


# A batch may wait for company up to this share of a recent batch's inference time when that is longer than
# BATCH_TIMEOUT_MS. For a model that takes 300 ms per batch, callers whose large bodies are still arriving
# then make this batch (≤ 30 ms more latency) instead of the next one (300 ms more), and batches stay full.
_WAIT_SHARE = 0.1


def _stack_key(inputs: Inputs) -> StackKey:
    # Only requests whose inputs agree beyond dimension 0 can be concatenated.
    return tuple((name, value.dtype.str, value.shape[1:]) for name, value in inputs.items())


class Batcher:
    """Queues requests for one model signature and runs them in batches of up to ``max_batch_size`` rows.

    The oldest queued request waits for company at most ``timeout_s`` (or a tenth of a recent batch's inference
    time, if longer), and only while more requests are in the server than in the batch (``in_flight``), that
    is, while company can still come: a lone caller pays no delay, and under load batches fill up instead of
    leaving as soon as the inference thread is free.
    ``max_batch_size=1`` turns batching off: requests run one by one, in arrival order.

    Batches run on the ``executor`` (the one inference thread), or, with ``inline``, on the event loop
    itself: only for models measured at warm-up to take less time than the hand-off to the thread.

    Every request has the same ``request_timeout_s``, so deadlines fall in arrival order and one timer, set
    for the oldest unanswered request, enforces all of them."""

    def __init__(
        self,
        run: RunBatch,
        *,
        executor: Executor,
        metrics: Metrics,
        max_batch_size: int,
        timeout_s: float,
        max_queue_size: int,
        request_timeout_s: float,
        in_flight: Callable[[], int] | None = None,
        stackable: bool = True,
        fixed_rows: bool = False,
        inline: bool = False,
        label: str = "model",
        model: str = "model",
        tracing: Any = None,
        deadline_message: str | None = None,
    ) -> None:
        self._tracing = tracing
        self._deadline_message = deadline_message or f"no answer within the {request_timeout_s:g} s request deadline"
        self._run = run
        self._executor = executor
        self._inline = inline
        self._metrics = metrics
        self._max_rows = max_batch_size if stackable else 1
        # With every row shape fixed by the signature, validated requests always stack: skip the per-request key.
        self._stack_key = (lambda inputs: ()) if fixed_rows else _stack_key
        self._timeout = timeout_s
        self._recent_inference = 0.0  # moving average of one batch's inference time, in seconds
        self._max_queue = max_queue_size
        self._request_timeout = request_timeout_s
        self._label = label
        self.model = model
        self._queue_seconds = metrics.queue_seconds.labels(model)
        self._inference_seconds = metrics.inference_seconds.labels(model)
        self._batch_size = metrics.batch_size.labels(model)
        self._in_flight = in_flight or (lambda: 0)
        self._queue: collections.deque[_Pending] = collections.deque()
        self._unanswered: collections.deque[_Pending] = collections.deque()  # queued or running, oldest first
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        # While the worker holds a partial batch and waits for company, submit wakes it only once the batch
        # can be completed (enough rows, or every in-flight request queued), not on every arrival.
        self._collecting = False
        self._batch_requests = 0
        self._batch_rows = 0
        self._closing = False
        self._worker: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def max_rows(self) -> int:
        """The most rows one batch holds (1: batching off, or a signature that does not stack)."""
        return self._max_rows

    @property
    def inline(self) -> bool:
        return self._inline

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"batcher-{self._label}")

    async def close(self) -> None:
        """Stop taking requests, finish every queued one, then stop the worker."""
        self._closing = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()

    async def submit(self, inputs: Inputs, rows: int) -> Outputs:
        """Queue one request and wait for its outputs. Raises :class:`Overloaded` at once when the queue is
        full, and :class:`DeadlineExceeded` when the request deadline passes first."""
        if self._closing:
            raise ServiceUnavailable("the server is shutting down")
        if len(self._queue) >= self._max_queue:
            self._metrics.rejections.labels(reason="queue_full").inc()
            raise Overloaded(f"overloaded: {self._max_queue} requests are already queued; retry later")
        loop = asyncio.get_running_loop()
        pending = _Pending(
            inputs,
            rows,
            self._stack_key(inputs),
            loop.create_future(),
            time.perf_counter(),
            loop.time() + self._request_timeout,
        )
        if self._tracing is not None and (context := self._tracing.current()) is not None:
            pending.trace = (context, time.time_ns())
        self._queue.append(pending)
        self._queued_rows += rows
        self._unanswered.append(pending)
        if self._deadline_timer is None:
            self._deadline_timer = loop.call_at(pending.deadline, self._expire_overdue)
        if not self._collecting or self._company_complete():
            self._wakeup.set()
        return await pending.future

    def _company_complete(self) -> bool:
        """No reason to wait longer: the batch can be filled, or no other request is on its way."""
        return (
            self._batch_rows + self._queued_rows >= self._max_rows
            or self._batch_requests + len(self._queue) >= self._in_flight()
        )

    def _expire_overdue(self) -> None:
        """Answer 504 to every request past its deadline, then set the timer for the next oldest."""
        self._deadline_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        unanswered = self._unanswered
        while unanswered and (unanswered[0].future.done() or unanswered[0].deadline <= now):
            pending = unanswered.popleft()
            if not pending.future.done():
                self._metrics.rejections.labels(reason="deadline").inc()
                pending.future.set_exception(DeadlineExceeded(self._deadline_message))
        if unanswered:
            self._deadline_timer = loop.call_at(unanswered[0].deadline, self._expire_overdue)

    def _forget_answered(self) -> None:
        unanswered = self._unanswered
        while unanswered and unanswered[0].future.done():
            unanswered.popleft()

    def _take(self, batch: list[_Pending], rows: int) -> int:
        """Move queued requests that stack with ``batch[0]`` into ``batch`` until ``max_rows`` is reached."""
        queue = self._queue
        key = batch[0].key
        while queue and rows < self._max_rows:
            head = queue[0]
            if head.future.done():  # expired while queued
                queue.popleft()
                self._queued_rows -= head.rows
                continue
            if head.key != key or rows + head.rows > self._max_rows:
                break
            batch.append(queue.popleft())
            self._queued_rows -= head.rows
            rows += head.rows
        return rows

    def _next_batch(self) -> tuple[list[_Pending], int] | None:
        queue = self._queue
        while queue:
            first = queue.popleft()
            self._queued_rows -= first.rows
            if not first.future.done():
                batch = [first]
                return batch, self._take(batch, first.rows)
        return None

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            taken = self._next_batch()
            if taken is None:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, rows = taken
            deadline = batch[0].enqueued + max(self._timeout, _WAIT_SHARE * self._recent_inference)
            self._collecting = True
            try:
                while rows < self._max_rows and not self._closing:
                    self._batch_requests, self._batch_rows = len(batch), rows
                    if self._company_complete() or (remaining := deadline - time.perf_counter()) <= 0:
                        break
                    self._wakeup.clear()
                    timer = loop.call_later(remaining, self._wakeup.set)
                    await self._wakeup.wait()
                    timer.cancel()
                    rows = self._take(batch, rows)
                rows = self._take(batch, rows)
            finally:
                self._collecting = False
            await self._execute(loop, [p for p in batch if not p.future.done()])
            self._forget_answered()
            if self._inline:
                await asyncio.sleep(0)  # let the loop read more requests before the next batch

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        if not batch:
            return
        now = time.perf_counter()
        queue_seconds = self._queue_seconds
        for pending in batch:
            queue_seconds.observe(now - pending.enqueued)
        rows = sum(p.rows for p in batch)
        self._batch_size.observe(rows)
        traced = self._tracing is not None and any(p.trace is not None for p in batch)
        batch_ns = time.time_ns() if traced else 0
        if len(batch) == 1:
            inputs = batch[0].inputs
        else:
            inputs = {name: np.concatenate([p.inputs[name] for p in batch]) for name in batch[0].inputs}
        started = time.perf_counter()
        try:
            if self._inline:
                outputs = self._run(inputs)
            else:
                outputs = await loop.run_in_executor(self._executor, self._run, inputs)
            if len(batch) > 1 and any(value.shape[:1] != (rows,) for value in outputs.values()):
                raise ServingError(f"the model returned outputs whose dimension 0 is not the batch of {rows} rows")
        except Exception as exc:
            self._inference_seconds.observe(time.perf_counter() - started)
            if traced:
                self._record(batch, rows, batch_ns, started, exc)
            if len(batch) > 1 and getattr(exc, "whole_batch", False):
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                return
            if len(batch) > 1:
                # One bad request must not fail its neighbours: rerun each alone so only the culprit errs.
                for pending in batch:
                    await self._execute(loop, [pending])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        elapsed = time.perf_counter() - started
        self._inference_seconds.observe(elapsed)
        if traced:
            self._record(batch, rows, batch_ns, started, None)
        self._recent_inference += 0.2 * (elapsed - self._recent_inference)
        if len(batch) == 1:
            if not batch[0].future.done():
                batch[0].future.set_result(outputs)
            return
        offset = 0
        for pending in batch:
            end = offset + pending.rows
            if not pending.future.done():
                pending.future.set_result({name: value[offset:end] for name, value in outputs.items()})
            offset = end

    def _record(
        self, batch: list[_Pending], rows: int, batch_ns: int, started: float, error: BaseException | None
    ) -> None:
        end_ns = time.time_ns()
        inference_ns = end_ns - int((time.perf_counter() - started) * 1e9)
        contexts = [p.trace for p in batch if p.trace is not None]
        self._tracing.record_batch(self.model, contexts, rows, batch_ns, max(batch_ns, inference_ns), end_ns, error)
