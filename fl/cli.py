"""``hjem fl``: simulate, report, run the federation for real, govern and use the model."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from foundation.errors import CliError

__all__ = ["register"]

Handler = Callable[[argparse.Namespace], int]


def _simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from fl.app import FedConfig
    from fl.artefact import make_artefact
    from fl.cohort import HELD_OUT, load_synth_cohort, organisation_samples
    from fl.privacy import noise_multiplier_for
    from fl.report import metrics
    from fl.simulate import simulate

    parts = organisation_samples(load_synth_cohort(args.residents, args.days, args.seed))
    test = parts.pop(HELD_OUT)
    z = noise_multiplier_for(args.epsilon, args.rounds) if args.epsilon else 0.0
    n = len(parts)
    cfg = FedConfig(rounds=args.rounds, min_clients=n, threshold=n - 1, steps=args.steps,
                    lr=args.lr, prox_mu=args.fedprox, clip=args.clip if z else 0.0,
                    noise_multiplier=z)  # fmt: skip
    res = simulate(parts, cfg, args.out / "work")
    evaluation = metrics(test, np.array(res.params))
    training = {**res.config, "rounds": res.rounds, "organisations": list(parts),
                "epsilon": res.epsilon_total, "delta": 1e-5}  # fmt: skip
    art = make_artefact(np.array(res.params), training, evaluation)
    art.save(args.out / f"{art.version}.json")
    for r in res.rounds:
        print(json.dumps(r))
    print(json.dumps({"model": art.version, "epsilon_total": res.epsilon_total, **evaluation}))
    return 0


def _report(args: argparse.Namespace) -> int:
    from fl.report import ReportSpec, make_report

    spec = ReportSpec(residents=args.residents, days=args.days, seed=args.seed,
                      rounds=args.rounds)  # fmt: skip
    make_report(spec, args.out)
    print(args.out / "report.md")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from fl.serving import samples_from_store

    samples = samples_from_store(args.store, args.days, time.time())
    samples.save(args.out)
    print(f"{args.out}: {len(samples)} resident-days, {int(samples.y.sum())} positive")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from fl.deploy import make_node_keys

    private, public = make_node_keys(args.out, args.name)
    print(f"{private}\n{public}  (give this one to the coordinator)")
    return 0


def _supernode(args: argparse.Namespace) -> int:
    from fl.deploy import supernode_command

    config: dict[str, str | float] = {"data": str(args.data.resolve())}
    if args.dp_clip and args.dp_sigma:
        config |= {"dp-clip": args.dp_clip, "dp-sigma": args.dp_sigma}
    cmd = supernode_command(args.ca, args.superlink, key=args.key, node_config=config,
                            http_port=args.port)  # fmt: skip
    return subprocess.call(cmd)  # noqa: S603


def _serve(args: argparse.Namespace) -> int:
    from fl.deploy import (
        LinkPorts,
        flwr_env,
        register_node,
        submit_run,
        superlink_command,
        wait_for_superlink,
    )

    ports = LinkPorts(host=args.host, http=args.port, health=args.health_port)
    env = flwr_env(args.state / "flwr-home", args.certs / "ca.crt", ports)
    args.state.mkdir(parents=True, exist_ok=True)
    link = subprocess.Popen(superlink_command(args.certs, args.state, ports), env=env)  # noqa: S603
    try:
        try:
            wait_for_superlink(link, ports)
        except RuntimeError as exc:
            raise CliError(str(exc)) from exc
        for key in args.node_key:
            register_node(key, env, key.stem)
        out = args.state / f"result-{int(time.time())}.json"
        submit_run(env, {"rounds": args.rounds, "min-clients": args.min_clients,
                         "threshold": args.threshold, "out": str(out.resolve())})  # fmt: skip
        while not out.exists():
            if link.poll() is not None:
                raise CliError("the SuperLink ended before the run finished")
            time.sleep(1)
        print(out)
        return 0
    finally:
        link.terminate()
        link.wait(timeout=30)


def _model(args: argparse.Namespace) -> int:
    from fl.artefact import ModelShelf

    shelf = ModelShelf(args.shelf)
    try:
        if args.model_action == "offer":
            print(shelf.offer(args.file, args.actor).version, "offered (not in use until accepted)")
        elif args.model_action == "accept":
            print(shelf.accept(args.version, args.actor).version, "accepted")
        elif args.model_action == "refuse":
            shelf.refuse(args.version, args.actor, args.reason)
            print(args.version, "refused")
        else:
            print(json.dumps({"accepted": shelf.accepted_version(),
                              "decisions": shelf.decisions()}, indent=2))  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return 0


def _score(args: argparse.Namespace) -> int:
    from fl.artefact import ModelShelf
    from fl.serving import score_residents

    model = ModelShelf(args.shelf).active()
    if model is None:
        raise CliError(f"no model has been accepted on {args.shelf}; nothing is scored")
    now = datetime.fromisoformat(args.at).timestamp() if args.at else time.time()
    for s in score_residents(args.store, model, now):
        print(json.dumps({"resident": s.resident_id, "risk": round(s.risk, 4),
                          "top": s.top_features, "model": s.model_version}))  # fmt: skip
    return 0


def _cohort_args(p: argparse.ArgumentParser, rounds: int) -> None:
    p.add_argument("--residents", type=int, default=2000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--out", type=Path, required=True, help="output directory")


def _governance_args(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = sub.add_parser("model", help="offer, accept, refuse or list model versions")
    msub = model.add_subparsers(dest="model_action", metavar="ACTION", required=True)
    for name in ("offer", "accept", "refuse", "list"):
        m = msub.add_parser(name)
        m.add_argument("--shelf", type=Path, required=True, help="the hub's model directory")
        m.add_argument("--actor", default="cli", help="who decides (audited)")
        if name == "offer":
            m.add_argument("file", type=Path)
        elif name in {"accept", "refuse"}:
            m.add_argument("version")
        if name == "refuse":
            m.add_argument("--reason", required=True)
    score = sub.add_parser("score", help="score residents with the accepted model")
    score.add_argument("--store", type=Path, required=True)
    score.add_argument("--shelf", type=Path, required=True)
    score.add_argument("--at", help="ISO time to score at (default: now)")


def register(parser: argparse.ArgumentParser) -> Handler:
    sub = parser.add_subparsers(dest="fl_action", metavar="ACTION", required=True)
    sim = sub.add_parser(
        "simulate", help="federated training on a synthetic cohort (Flower simulation)"
    )
    _cohort_args(sim, 5)
    sim.add_argument("--steps", type=int, default=300)
    sim.add_argument("--lr", type=float, default=2.0)
    sim.add_argument("--fedprox", type=float, default=0.0, metavar="MU", help="FedProx mu")
    sim.add_argument("--epsilon", type=float, default=0.0, help="DP budget for the whole run")
    sim.add_argument("--clip", type=float, default=1.0, help="DP update clipping norm")
    rep = sub.add_parser("report", help="the evaluation report (Markdown and PNG)")
    _cohort_args(rep, 5)
    prep = sub.add_parser("prepare", help="a hub's training set from its store")
    prep.add_argument("--store", type=Path, required=True, help="the hub's SQLite file")
    prep.add_argument("--days", type=int, default=90)
    prep.add_argument("--out", type=Path, required=True, help="training-set file (.npz)")
    keys = sub.add_parser("keys", help="a SuperNode's authentication key pair")
    keys.add_argument("--out", type=Path, required=True)
    keys.add_argument("--name", required=True)
    node = sub.add_parser("supernode", help="run this hub's SuperNode")
    node.add_argument("--superlink", required=True, help="HOST:PORT of the SuperLink")
    node.add_argument("--ca", type=Path, required=True, help="CA certificate to trust")
    node.add_argument("--key", type=Path, required=True, help="private key (.pub beside it)")
    node.add_argument("--data", type=Path, required=True, help="file from hjem fl prepare")
    node.add_argument("--dp-clip", type=float, default=0.0)
    node.add_argument("--dp-sigma", type=float, default=0.0)
    node.add_argument("--port", type=int, default=9094, help="local runtime API port")
    serve = sub.add_parser("serve", help="run the SuperLink and one federated training")
    serve.add_argument("--certs", type=Path, required=True, help="make-certs.sh directory")
    serve.add_argument("--state", type=Path, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9093)
    serve.add_argument("--health-port", type=int, default=9095)
    serve.add_argument("--node-key", type=Path, action="append", default=[])
    serve.add_argument("--rounds", type=int, default=5)
    serve.add_argument("--min-clients", type=int, default=2)
    serve.add_argument("--threshold", type=int, default=2)
    _governance_args(sub)
    handlers: dict[str, Handler] = {
        "simulate": _simulate, "report": _report, "prepare": _prepare, "keys": _keys,
        "supernode": _supernode, "serve": _serve, "model": _model, "score": _score,
    }  # fmt: skip
    return lambda args: handlers[args.fl_action](args)
