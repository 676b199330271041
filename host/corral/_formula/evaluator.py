"""Evaluates formulas: resolves pack calls, coerces their arguments, runs them as a dataflow.

Every node evaluates to a plain value or, if it waits on a pack call, to a
``Future``. A node whose inputs are futures becomes a future completed by a callback
when its last input is ready, so each pack call is submitted the moment its own
arguments exist - not level by level - and no thread ever blocks waiting for another
pool task; only the caller of :meth:`Evaluator.evaluate` waits, once, on the whole
formula, with the formula's one deadline.

Before anything runs, a planning pass checks every built-in name and arity and
resolves every pack call through the catalog, so a typo fails before a single call
has started.
"""

from __future__ import annotations

import dataclasses

import functools
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, wait
from datetime import tzinfo
from typing import Any, Callable, Mapping

from .builtins import lookup_builtin
from .values import (CallSite, ValueLimits, apply_binary, apply_unary, check_list,
                     get_index, get_property, truthy)
from .._pack.coerce import coerce_args
from .._errors import (ArgumentError, CorralError, FormulaDeadlineExceeded, FormulaEvalError,
                      FormulaError)
from .._formula.parser import (Binary, Call, ConnectionRef, Index, ListExpr, Literal, Node, PackCall,
                       Property, Unary, Variable, parse_formula, walk)
from .._formula.memo import FormulaMemo
from .._formula.variables import bind_variables, check_bound, lookup
from .._formula.zones import zone
from .._pack.manifest import FormulaDef
from .._calls.result_cache import result_key
from .._calls.scheduler import PackCatalog, ResolvedFormula, Scheduler
from .._types import DEFAULT_INVOCATION, CallRequest, Invocation

Pending = Any
"""A plain value or a ``Future`` of one."""


class Evaluator:
    """Parses (once per distinct text) and evaluates formulas against a pack catalog."""

    def __init__(self, catalog: PackCatalog, scheduler: Scheduler,
                 clock: Callable[[], float] = time.time, *,
                 limits: ValueLimits = ValueLimits(), parse_cache_size: int = 512,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.catalog = catalog
        self.scheduler = scheduler
        self.clock = clock
        self.limits = limits
        self._monotonic = monotonic
        self._parsed: OrderedDict[str, Node] = OrderedDict()
        self.memo = FormulaMemo(catalog, monotonic)
        self._parse_cache_size = parse_cache_size
        self._parse_lock = threading.Lock()

    def parse(self, text: str) -> Node:
        """The AST of ``text``, from a bounded LRU of parsed formulas."""
        with self._parse_lock:
            tree = self._parsed.get(text)
            if tree is not None:
                self._parsed.move_to_end(text)
                return tree
        tree = parse_formula(text, cache=False)  # this LRU is the evaluator's own bound
        with self._parse_lock:
            self._parsed[text] = tree
            while len(self._parsed) > self._parse_cache_size:
                self._parsed.popitem(last=False)
        return tree

    def evaluate(self, text: str, *, principal: str | None = None,
                 connections: Mapping[str, str] | None = None,
                 deadline_s: float | None = None,
                 invocation: Invocation = DEFAULT_INVOCATION,
                 variables: Mapping[str, Any] | None = None,
                 timezone: str | None = None) -> Any:
        """Evaluate ``text``; ``connections`` maps a pack name to the caller's connection id;
        ``invocation`` is the caller's time zone (the one its dates and times are read in)
        and location, for every pack call (``timezone`` replaces its zone); ``variables``
        binds its ``$$[variable:NAME]`` references to JSON values."""
        if timezone is not None:
            invocation = dataclasses.replace(invocation, timezone=timezone)
        tree = self.parse(text)
        budget = self.scheduler.config.default_deadline_s if deadline_s is None else deadline_s
        if not budget > 0:
            raise ArgumentError(f"the deadline must be a positive number of seconds, got {budget}")
        links = dict(connections or {})
        bound = bind_variables(variables, self.limits)
        tz = zone(invocation.timezone)
        memo_key = FormulaMemo.key(text, principal, links, bound, invocation.cache_scope())
        found, value = self.memo.get(memo_key)
        if found:
            return value
        check_bound(tree, bound)
        run = _Run(self, principal, links, self._monotonic() + budget, bound, tz, invocation)
        run.plan(tree)
        outcome = run.eval(tree)
        if isinstance(outcome, Future):
            wait([outcome], timeout=max(0.0, run.deadline - self._monotonic()))
            if not outcome.done():
                raise run.abandon(budget)
            outcome = outcome.result()
        self.memo.put(memo_key, tree, run.planned_calls(), outcome)
        return outcome


class _Run:
    """One evaluation: its caller, its deadline, its resolved calls and what is in flight."""

    def __init__(self, evaluator: Evaluator, principal: str | None,
                 connections: dict[str, str], deadline: float,
                 variables: dict[str, Any], tz: tzinfo,
                 invocation: Invocation = DEFAULT_INVOCATION) -> None:
        self.ev = evaluator
        self.principal = principal
        self.invocation = invocation
        self.connections = connections
        self.deadline = deadline
        self.variables = variables
        self.tz = tz
        self.resolved: dict[int, ResolvedFormula] = {}
        self._plan_nodes: list[PackCall] = []
        self._lock = threading.Lock()
        self._calls: dict[bytes, Future[Any]] = {}
        self._pending: dict[int, PackCall] = {}
        self._abandoned = False

    # -- planning -------------------------------------------------------------------------

    def plan(self, tree: Node) -> None:
        """Check built-ins and resolve pack calls before anything runs."""
        allowed_refs: set[int] = set()
        for node in walk(tree):
            if isinstance(node, Call):
                builtin = lookup_builtin(node.name)
                if builtin is None:
                    raise FormulaEvalError(f"unknown function {node.name!r}", line=node.line,
                                           column=node.column, function=node.name)
                builtin.check_arity(len(node.args), self.site(builtin.name, node))
            elif isinstance(node, PackCall):
                self._plan_pack_call(node, allowed_refs)
            elif isinstance(node, ConnectionRef) and id(node) not in allowed_refs:
                raise FormulaEvalError("a connection reference can only be the first argument "
                                       "of a pack call", line=node.line, column=node.column)

    def _plan_pack_call(self, node: PackCall, allowed_refs: set[int]) -> None:
        try:
            resolved = self.ev.catalog.resolve(node.pack, node.formula)
        except CorralError as exc:
            raise _located(exc, node) from None
        args = node.args
        if args and isinstance(args[0], ConnectionRef):
            allowed_refs.add(id(args[0]))
            args = args[1:]
        try:
            _check_arity(resolved.formula, len(args), pack=resolved.pack)
        except ArgumentError as exc:
            raise _located(exc, node) from None
        self.resolved[id(node)] = resolved
        self._plan_nodes.append(node)

    def planned_calls(self) -> list[tuple[str, str, ResolvedFormula]]:
        """Every pack call of the formula, as written and as resolved."""
        return [(node.pack, node.formula, self.resolved[id(node)])
                for node in self._plan_nodes]

    # -- evaluation -----------------------------------------------------------------------

    def site(self, name: str, node: Node) -> CallSite:
        return CallSite(name=name, line=node.line, column=node.column, clock=self.ev.clock,
                        limits=self.ev.limits, timezone=self.tz)

    def eval(self, node: Node) -> Pending:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Variable):
            return lookup(self.variables, node.name)  # check_bound() made sure it is bound
        if isinstance(node, Binary):
            site = self.site(f"operator {node.op}", node)
            return gather([self.eval(node.left), self.eval(node.right)],
                          lambda v: apply_binary(node.op, v[0], v[1], site))
        if isinstance(node, Unary):
            unary_site = self.site(f"unary {node.op}", node)
            return then(self.eval(node.operand), lambda v: apply_unary(node.op, v, unary_site))
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, PackCall):
            return self._pack_call(node)
        if isinstance(node, ListExpr):
            list_site = self.site("list", node)
            return gather([self.eval(item) for item in node.items],
                          lambda v: check_list(v, list_site))
        if isinstance(node, Property):
            prop_site = self.site(f".{node.name}", node)
            return then(self.eval(node.target), lambda v: get_property(v, node.name, prop_site))
        if isinstance(node, Index):
            index_site = self.site("index", node)
            return gather([self.eval(node.target), self.eval(node.index)],
                          lambda v: get_index(v[0], v[1], index_site))
        raise FormulaEvalError(f"{type(node).__name__} cannot be evaluated here",
                               line=node.line, column=node.column)

    def _call(self, node: Call) -> Pending:
        builtin = lookup_builtin(node.name)
        assert builtin is not None  # plan() checked
        site = self.site(builtin.name, node)
        if not builtin.lazy:
            return gather([self.eval(arg) for arg in node.args], lambda v: builtin.call(site, v))
        if builtin.name == "If":
            return self._if(node, site)
        return self._and_or(node, site, stop_on=builtin.name == "Or")

    def _if(self, node: Call, site: CallSite) -> Pending:
        def branch(condition: Any) -> Pending:
            if truthy(condition, site, arg=1):
                return self.eval(node.args[1])
            return self.eval(node.args[2]) if len(node.args) > 2 else None
        return then(self.eval(node.args[0]), branch)

    def _and_or(self, node: Call, site: CallSite, *, stop_on: bool) -> Pending:
        """And stops at the first false, Or at the first true; later arguments never run."""
        args = node.args

        def run_from(start: int) -> Pending:
            for i in range(start, len(args)):  # a loop, not recursion, while values are ready
                value = self.eval(args[i])
                if isinstance(value, Future):
                    return then(value, functools.partial(decide, i=i))
                if truthy(value, site, arg=i + 1) is stop_on:
                    return stop_on
            return not stop_on

        def decide(value: Any, *, i: int) -> Pending:
            return stop_on if truthy(value, site, arg=i + 1) is stop_on else run_from(i + 1)

        return run_from(0)

    # -- pack calls -----------------------------------------------------------------------

    def _pack_call(self, node: PackCall) -> Pending:
        resolved = self.resolved[id(node)]
        ref: ConnectionRef | None = None
        arg_nodes = node.args
        if arg_nodes and isinstance(arg_nodes[0], ConnectionRef):
            ref, arg_nodes = arg_nodes[0], arg_nodes[1:]
        values = [self.eval(arg) for arg in arg_nodes]
        return gather(values, lambda v: self._submit(node, resolved, ref, v))

    def _submit(self, node: PackCall, resolved: ResolvedFormula, ref: ConnectionRef | None,
                values: list[Any]) -> Future[Any]:
        if self._abandoned:
            raise FormulaDeadlineExceeded("the formula's deadline passed")
        try:
            args = coerce_args(resolved.formula, values, pack=resolved.pack)
            connection_id = self._connection_for(resolved, ref)
        except ArgumentError as exc:
            raise _located(exc, node) from None
        call = CallRequest(pack=resolved.pack, formula=resolved.formula.name, args=args,
                           connection_id=connection_id, principal=self.principal,
                           invocation=self.invocation)
        future = self._run_once(call, resolved)
        with self._lock:
            self._pending[id(node)] = node
        located: Future[Any] = Future()
        located.set_running_or_notify_cancel()
        future.add_done_callback(lambda done: self._settle(done, located, node))
        return located

    def _run_once(self, call: CallRequest, resolved: ResolvedFormula) -> Future[Any]:
        """Identical calls in one evaluation share one future, whatever their timing.

        Actions are the exception: each one written in the formula runs.
        """
        if resolved.formula.is_action:
            return self.ev.scheduler.submit(call, resolved, self.deadline)
        key = result_key(resolved.pack, resolved.pack_hash, call.formula, call.args,
                         call.connection_id, call.principal, call.invocation.cache_scope())
        with self._lock:
            future = self._calls.get(key)
            if future is None:
                future = self.ev.scheduler.submit(call, resolved, self.deadline, key=key)
                self._calls[key] = future
        return future

    def _settle(self, done: Future[Any], located: Future[Any], node: PackCall) -> None:
        with self._lock:
            self._pending.pop(id(node), None)
        error = done.exception()
        if error is None:
            located.set_result(done.result())
        else:
            located.set_exception(_located(error, node))

    def _connection_for(self, resolved: ResolvedFormula, ref: ConnectionRef | None) -> str | None:
        mode = resolved.formula.connection
        label = f"{resolved.pack}.{resolved.formula.name}"
        if ref is not None:
            if ref.pack.lower() != resolved.pack.lower():
                raise ArgumentError(f"{label}: the connection reference is for pack "
                                    f"{ref.pack!r}, not {resolved.pack!r}", pack=resolved.pack)
            if mode == "none":
                raise ArgumentError(f"{label} takes no connection", pack=resolved.pack)
            return ref.connection_id
        if mode == "none":
            return None
        connection = _lookup_folded(self.connections, resolved.pack)
        if connection is None and mode == "required":
            raise ArgumentError(f"{label} needs a connection: pass one for pack "
                                f"{resolved.pack!r} or give a $$[packConnectionReference:…] "
                                "as the first argument", pack=resolved.pack)
        return connection

    def abandon(self, budget: float) -> FormulaDeadlineExceeded:
        """Stop starting calls and describe what was still running."""
        with self._lock:
            self._abandoned = True
            waiting = sorted(self._pending.values(), key=lambda n: (n.line, n.column))
        where = "; ".join(f"{n.label} at line {n.line}, column {n.column}" for n in waiting[:5])
        suffix = f": still waiting for {where}" if where else ""
        error = FormulaDeadlineExceeded(
            f"the formula did not finish within its deadline of {budget:g} s{suffix}")
        if waiting:
            error.details.update(call=waiting[0].label, line=waiting[0].line,
                                 column=waiting[0].column)
        return error


# -- dataflow helpers ----------------------------------------------------------------------


def then(value: Pending, fn: Callable[[Any], Pending]) -> Pending:
    """``fn(value)`` now if ``value`` is ready, else a future of it once ``value`` is."""
    if not isinstance(value, Future):
        return fn(value)
    out: Future[Any] = Future()
    out.set_running_or_notify_cancel()

    def proceed(done: Future[Any]) -> None:
        try:
            _complete(out, fn(done.result()))
        except Exception as exc:
            out.set_exception(exc)

    value.add_done_callback(proceed)
    return out


def gather(values: list[Pending], fn: Callable[[list[Any]], Pending]) -> Pending:
    """``fn`` of all the values once every one is ready; the first failure wins."""
    waiting = [i for i, value in enumerate(values) if isinstance(value, Future)]
    if not waiting:
        return fn(values)
    out: Future[Any] = Future()
    out.set_running_or_notify_cancel()
    results = list(values)
    state = {"left": len(waiting), "failed": False}
    lock = threading.Lock()

    def arrive(i: int, done: Future[Any]) -> None:
        error = done.exception()
        with lock:
            if state["failed"]:
                return
            if error is not None:
                state["failed"] = True
            else:
                results[i] = done.result()
                state["left"] -= 1
            ready = error is None and state["left"] == 0
        if error is not None:
            out.set_exception(error)
        elif ready:
            try:
                _complete(out, fn(results))
            except Exception as exc:
                out.set_exception(exc)

    for i in waiting:
        values[i].add_done_callback(lambda done, i=i: arrive(i, done))
    return out


def _complete(out: Future[Any], result: Pending) -> None:
    if not isinstance(result, Future):
        out.set_result(result)
        return

    def copy(done: Future[Any]) -> None:
        error = done.exception()
        if error is None:
            out.set_result(done.result())
        else:
            out.set_exception(error)

    result.add_done_callback(copy)


def _located(error: BaseException, node: PackCall) -> BaseException:
    """A copy of ``error`` that names the call and its position in the formula.

    A copy, because one call's error may be shared by every evaluation that joined it.
    """
    if not isinstance(error, CorralError) or isinstance(error, FormulaError):
        return error
    message = f"{error.message} (in {node.label} at line {node.line}, column {node.column})"
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = (message,)
    copy.message = message
    copy.details = {**error.details, "call": node.label, "line": node.line,
                    "column": node.column}
    copy.__cause__ = error.__cause__
    copy.__traceback__ = error.__traceback__
    return copy


def _lookup_folded(mapping: Mapping[str, str], name: str) -> str | None:
    if name in mapping:
        return mapping[name]
    folded = [key for key in mapping if key.lower() == name.lower()]
    return mapping[folded[0]] if len(folded) == 1 else None


def _check_arity(formula: FormulaDef, count: int, *, pack: str) -> None:
    """The count check of ``coerce_args``, done at planning time, before any value exists."""
    fixed = [p for p in formula.params if not p.vararg]
    label = f"{pack}.{formula.name}"
    missing = [p for p in fixed[count:] if not p.optional]
    if missing:
        raise ArgumentError(f"{label}: missing required parameter {missing[0].name!r}",
                            pack=pack, formula=formula.name, parameter=missing[0].name)
    if count > len(fixed) and len(fixed) == len(formula.params):
        raise ArgumentError(f"{label} takes at most {len(fixed)} argument(s), got {count}",
                            pack=pack, formula=formula.name)
