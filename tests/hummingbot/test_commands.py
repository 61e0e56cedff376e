"""Commands to Hummingbot instances: the RPC client and the deployment services and tasks, against
simulated instances on the real Mosquitto."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from bots.models import BotEvent
from core.errors import ApplicationError
from hummingbot import commands, tasks, wire
from hummingbot.converter import ConvertInput, convert
from hummingbot.models import DeploymentStatus, HummingbotDeployment, HummingbotInstance
from hummingbot.rpc import (
    CommandRefused,
    CommandTimeout,
    MalformedAnswer,
    RpcClient,
    close_default_client,
    rpc_call,
)
from tests.factories import BotFactory
from tests.hummingbot.sim import ALREADY_RUNNING, NOT_RUNNING, MqttRecorder, SimInstance, dumps

FAST = {"timeout": 0.5, "retries": 1}
PMM = {
    "strategy": "pure_market_making",
    "exchange": "binance_paper_trade",
    "market": "BTC-USDT",
    "bid_spread": 1.0,
    "ask_spread": 1.0,
    "order_amount": 0.01,
}


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    close_default_client()
    deadline = time.monotonic() + 3
    while (extra := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not extra, f"threads left running: {extra}"


@pytest.fixture
def fast(monkeypatch):
    """Short waits for the services and tasks that use the module defaults."""
    monkeypatch.setattr(commands, "COMMAND_TIMEOUT", 0.4)
    monkeypatch.setattr(commands, "IMPORT_TIMEOUT", 0.4)
    monkeypatch.setattr(commands, "COMMAND_RETRIES", 0)


def new_id() -> str:
    return f"sim-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sim():
    with SimInstance(new_id(), heartbeat_seconds=1) as instance:
        yield instance


def make_deployment(
    organization, sim: SimInstance, *, config_file: str | None = None, plan: dict | None = None
) -> HummingbotDeployment:
    instance = HummingbotInstance.objects.create(
        organization=organization,
        name=f"hb-{sim.instance_id}",
        instance_id=sim.instance_id,
        namespace=sim.namespace,
    )
    bot = BotFactory(organization=organization, execution="hummingbot")
    return HummingbotDeployment.objects.create(
        organization=organization,
        bot=bot,
        instance=instance,
        strategy_name="pure_market_making",
        config_file=f"conf_pmm_{sim.instance_id}.yml" if config_file is None else config_file,
        rendered_config="strategy: pure_market_making\n",
        commands=plan or {},
    )


def kinds(deployment: HummingbotDeployment) -> list[str]:
    return list(BotEvent.objects.filter(bot=deployment.bot).order_by("id").values_list("kind", flat=True))


# -- the RPC client ---------------------------------------------------------------------------------
def test_rpc_round_trip(sim):
    target = (sim.namespace, sim.instance_id)
    assert rpc_call(target, "import", {"strategy": "conf_a"}, **FAST) == {"status": 200, "msg": ""}
    with pytest.raises(CommandRefused) as refused:
        rpc_call(target, "status", {}, **FAST)
    assert refused.value.code == "refused" and refused.value.msg == NOT_RUNNING and refused.value.status == 400
    rpc_call(target, "start", {}, **FAST)
    assert rpc_call(target, "status", {"async_backend": False}, **FAST)["msg"].endswith("Market: BTC-USDT")
    assert sim.running and sim.starts == 1


def test_a_command_without_answer_times_out_after_its_retries(sim):
    sim.drop_answers = -1
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as timeout:
        rpc_call((sim.namespace, sim.instance_id), "status", {}, timeout=0.3, retries=2)
    assert timeout.value.code == "timeout" and timeout.value.attempts == 3
    assert 0.9 <= time.monotonic() - started < 2
    # At least once: every attempt reached the instance.
    assert sim.executed["status"] == 3 and sim.dropped["status"] == 3


def test_a_retry_gets_the_answer_the_first_attempt_lost(sim):
    sim.drop_answers = 1
    rpc_call((sim.namespace, sim.instance_id), "import", {"strategy": "conf_b"}, **FAST)
    assert sim.executed["import"] == 2 and sim.answered["import"] == 1


def test_a_late_answer_to_the_first_attempt_completes_the_call(sim):
    # The first answer lands halfway through the retry's wait: 0.5 s of margin either way on a
    # loaded machine (0.15 s was not always enough).
    sim.answer_delay = 1.5
    with RpcClient() as client:
        data = client.call((sim.namespace, sim.instance_id), "import", {"strategy": "c"}, timeout=1.0, retries=1)
        assert data["status"] == 200
        deadline = time.monotonic() + 3
        while client.stray_answers < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.stray_answers == 1, "the retry's answer came after the call was done"
    assert sim.executed["import"] == 2


def test_a_duplicate_answer_is_ignored(sim):
    sim.answer_twice = True
    with RpcClient() as client:
        client.call((sim.namespace, sim.instance_id), "import", {"strategy": "c"}, **FAST)
        deadline = time.monotonic() + 2
        while client.stray_answers < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.stray_answers == 1


@pytest.mark.parametrize(("raw", "reason"), [(b"\x00garbage", "not JSON"), (b'{"header": {}}', "no data")])
def test_a_malformed_answer_raises_a_clear_error(sim, raw, reason):
    sim.answer_raw = raw
    with pytest.raises(MalformedAnswer, match=reason) as malformed:
        rpc_call((sim.namespace, sim.instance_id), "status", {}, **FAST)
    assert malformed.value.code == "malformed"


def test_import_without_a_strategy_name_fails_validation_and_times_out(sim):
    with pytest.raises(CommandTimeout):
        rpc_call((sim.namespace, sim.instance_id), "import", {}, timeout=0.3, retries=0)
    assert (sim.received["import"], sim.rejected["import"], sim.executed["import"]) == (1, 1, 0)


def test_config_reads_and_updates_settings():
    with SimInstance(new_id(), heartbeat_seconds=1, strategies={"conf_cfg": PMM}) as sim:
        check_config(sim)


def check_config(sim: SimInstance) -> None:
    target = (sim.namespace, sim.instance_id)
    rpc_call(target, "import", {"strategy": "conf_cfg"}, **FAST)
    read = rpc_call(target, "config", {"params": []}, **FAST)
    assert read["changes"] == [] and set(read["config"]) == {"client", "strategy"}
    assert read["config"]["strategy"]["strategy"] == "pure_market_making"
    assert read["config"]["client"]["instance_id"] == sim.instance_id
    updated = rpc_call(target, "config", {"params": [["bid_spread", 0.5], ["order_amount", "0.02"]]}, **FAST)
    assert updated["changes"] == [["bid_spread", 0.5], ["order_amount", "0.02"]], "echoed as sent"
    assert updated["config"]["strategy"]["bid_spread"] == 0.5
    assert updated["config"]["strategy"]["order_amount"] == 0.02, "parsed to the setting's type"
    with pytest.raises(CommandRefused, match=r"Invalid param key\(s\): \['nope'\]"):
        rpc_call(target, "config", {"params": [["nope", 1]]}, **FAST)


def test_concurrent_calls_share_one_client(sim):
    target = (sim.namespace, sim.instance_id)
    with RpcClient() as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: client.call(target, "import", {"strategy": f"s{n}"}, **FAST), range(16)))
    assert all(a == {"status": 200, "msg": ""} for a in answers)
    assert sim.executed["import"] == 16


def test_the_broker_being_down_is_a_timeout(settings):
    settings.MQTT_URL = "mqtt://127.0.0.1:1"
    with RpcClient() as client, pytest.raises(CommandTimeout) as down:
        client.call(("hbot", "nobody"), "status", {}, **FAST)
    assert down.value.code == "unavailable"


# -- services ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_deploy_imports_configures_and_starts(org_a, sim, fast):
    deployment = make_deployment(org_a, sim)
    assert tasks.hb_deploy.apply(args=[deployment.pk], kwargs={"params": {"bid_spread": "0.3"}}).get() == "running"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert (deployment.last_command, deployment.last_command_at is not None) == ("start", True)
    assert sim.strategy_file == deployment.config_file and sim.running and sim.params["bid_spread"] == 0.3
    assert kinds(deployment) == ["hummingbot.imported", "hummingbot.configured", "hummingbot.started"]


@pytest.mark.django_db
def test_deploy_sends_the_planned_import_and_settings(org_a, sim, fast):
    plan = {"import": "conf_pure_mm_1", "config": [["bid_spread", "0.25"], ["order_amount", "0.02"]], "start": {}}
    deployment = make_deployment(org_a, sim, config_file="conf_pure_mm_1.yml", plan=plan)
    assert tasks.hb_deploy.apply(args=[deployment.pk]).get() == DeploymentStatus.RUNNING
    assert sim.strategy_file == "conf_pure_mm_1.yml" and sim.running
    assert (sim.params["bid_spread"], sim.params["order_amount"]) == (0.25, 0.02)
    assert [command for command, _ in sim.requests] == ["import", "config", "status", "start"]


@pytest.mark.django_db
def test_deploy_of_a_rendered_config_exported_to_the_conf_folder(org_a, tmp_path, fast):
    config = convert(ConvertInput("pure_market_making", {}, symbol="BTC/USDT", exchange="binance", paper=True))
    for _folder, name, text in config.files():
        (tmp_path / name).write_text(text)  # the sim's conf_dir stands for conf/<folder>/
    plan = {"import": config.import_name, "config": config.params_for_config_command(), "start": config.start_fields()}
    with SimInstance(new_id(), heartbeat_seconds=1, conf_dir=tmp_path) as sim:
        deployment = make_deployment(org_a, sim, config_file=config.file_name, plan=plan)
        assert tasks.hb_deploy.apply(args=[deployment.pk]).get() == DeploymentStatus.RUNNING
    assert sim.strategy_file == config.file_name and sim.strategy_name == "pure_market_making"
    assert sim.rejected.total() == 0 and kinds(deployment)[-1] == "hummingbot.started"


@pytest.mark.django_db
def test_deploy_of_a_v2_config_starts_its_script_without_import(org_a, sim, fast):
    start = {"script": "v2_with_controllers.py", "conf": "conf_v2_with_controllers_1.yml"}
    plan = {"import": None, "config": [], "start": start}
    deployment = make_deployment(org_a, sim, config_file="conf_v2_with_controllers_1.yml", plan=plan)
    assert tasks.hb_deploy.apply(args=[deployment.pk]).get() == DeploymentStatus.RUNNING
    assert [command for command, _ in sim.requests] == ["status", "start"]
    assert {k: sim.requests[1][1][k] for k in start} == start
    assert sim.running and sim.strategy_name == "v2_with_controllers.py"
    with pytest.raises(ApplicationError, match="V2"):
        commands.deployment_import(deployment=deployment, **FAST)


@pytest.mark.django_db
def test_import_and_config_keep_a_deployment_deploying(org_a, sim):
    deployment = make_deployment(org_a, sim)
    commands.deployment_import(deployment=deployment, **FAST)
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.DEPLOYING
    answer = commands.deployment_config(deployment=deployment, params=[("ask_spread", 2)], **FAST)
    assert answer["changes"] == [["ask_spread", 2]]
    deployment.refresh_from_db()
    assert (deployment.status, deployment.last_command) == (DeploymentStatus.DEPLOYING, "config")


@pytest.mark.django_db
def test_start_when_running_succeeds_without_a_second_start(org_a, sim):
    deployment = make_deployment(org_a, sim)
    commands.deployment_import(deployment=deployment, **FAST)
    commands.deployment_start(deployment=deployment, **FAST)
    commands.deployment_start(deployment=deployment, **FAST)
    assert sim.starts == 1 and sim.executed["start"] == 1
    started = BotEvent.objects.filter(bot=deployment.bot, kind="hummingbot.started").order_by("id")
    assert [e.data["already_running"] for e in started] == [False, True]
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.RUNNING


@pytest.mark.django_db
def test_a_start_answered_already_running_is_a_success(org_a, sim):
    deployment = make_deployment(org_a, sim)
    commands.deployment_import(deployment=deployment, **FAST)
    sim.drop_command_answers["start"] = 1  # the start runs, its answer is lost, the retry hears 400
    commands.deployment_start(deployment=deployment, **FAST)
    assert sim.starts == 1 and sim.executed["start"] == 2
    assert kinds(deployment).count("hummingbot.started") == 1
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.RUNNING


def test_a_duplicated_start_request_starts_the_strategy_once(sim):
    rpc_call((sim.namespace, sim.instance_id), "import", {"strategy": "dup"}, **FAST)
    reply_to = wire.reply_topic(sim.instance_id)
    request = wire.request({}, reply_to=reply_to)
    with MqttRecorder([reply_to]) as recorder:
        recorder.publish(sim.topic("start"), request)
        recorder.publish(sim.topic("start"), request)
        answers = recorder.wait_count(lambda m: True, 2)
    assert [json.loads(raw)["data"] for _, raw, _, _ in answers] == [
        {"status": 200, "msg": ""},
        {"status": 400, "msg": ALREADY_RUNNING},
    ]
    assert sim.starts == 1 and sim.executed["start"] == 2


@pytest.mark.django_db
def test_a_redelivered_start_is_reported_once(org_a, sim):
    deployment = make_deployment(org_a, sim)
    commands.deployment_import(deployment=deployment, **FAST)
    sim.deliver_twice = True
    commands.deployment_start(deployment=deployment, **FAST)
    time.sleep(0.2)  # let the second answer arrive and be ignored
    assert sim.starts == 1 and sim.executed["start"] == 2
    assert kinds(deployment).count("hummingbot.started") == 1


@pytest.mark.django_db
@pytest.mark.parametrize("refuse_idle_stop", [False, True])
def test_stopping_a_stopped_strategy_succeeds(org_a, refuse_idle_stop):
    with SimInstance(new_id(), heartbeat_seconds=1, refuse_idle_stop=refuse_idle_stop) as sim:
        deployment = make_deployment(org_a, sim)
        commands.deployment_stop(deployment=deployment, **FAST)
        commands.deployment_stop(deployment=deployment, **FAST)
    deployment.refresh_from_db()
    assert (deployment.status, deployment.last_command) == (
        DeploymentStatus.STOPPED,
        "status" if refuse_idle_stop else "stop",
    )
    stopped = BotEvent.objects.filter(bot=deployment.bot, kind="hummingbot.stopped")
    assert stopped.count() == 2
    assert all(e.data["already_stopped"] is refuse_idle_stop for e in stopped)
    assert sim.stops == 0


@pytest.mark.django_db
def test_stop_then_start_imports_the_strategy_again(org_a, sim):
    deployment = make_deployment(org_a, sim)
    commands.deployment_import(deployment=deployment, **FAST)
    commands.deployment_start(deployment=deployment, **FAST)
    commands.deployment_stop(deployment=deployment, skip_order_cancellation=True, **FAST)
    assert not sim.running and sim.strategy_file is None, "Hummingbot forgets the strategy on stop"
    assert ("stop", {"skip_order_cancellation": True, "async_backend": True}) in sim.requests
    commands.deployment_start(deployment=deployment, **FAST)
    assert sim.running and sim.starts == 2 and sim.executed["import"] == 2
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.RUNNING


@pytest.mark.django_db
def test_no_answer_leaves_the_deployment_unknown_with_a_warning(org_a, sim):
    deployment = make_deployment(org_a, sim)
    sim.drop_answers = -1
    with pytest.raises(CommandTimeout):
        commands.deployment_start(deployment=deployment, timeout=0.3, retries=1)
    deployment.refresh_from_db()
    assert (deployment.status, deployment.last_command) == (DeploymentStatus.UNKNOWN, "status")
    event = BotEvent.objects.get(bot=deployment.bot, kind="hummingbot.no_answer")
    assert event.level == "warning" and event.data["command"] == "status" and event.data["attempts"] == 2
    assert "hummingbot.started" not in kinds(deployment)
    assert sim.executed["start"] == 0


@pytest.mark.django_db
def test_an_instance_that_is_gone_leaves_the_deployment_unknown(org_a, sim):
    deployment = make_deployment(org_a, sim)
    sim.go_silent()
    with pytest.raises(CommandTimeout):
        commands.deployment_stop(deployment=deployment, timeout=0.3, retries=0)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.UNKNOWN
    assert kinds(deployment) == ["hummingbot.no_answer"]


@pytest.mark.django_db
def test_status_reconciles_the_deployment(org_a, sim):
    deployment = make_deployment(org_a, sim)
    HummingbotDeployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.UNKNOWN)
    deployment.refresh_from_db()
    rpc_call((sim.namespace, sim.instance_id), "start", {"script": "v2_with_controllers"}, **FAST)
    payload = commands.deployment_status(deployment=deployment, **FAST)
    assert payload["running"] is True and "Strategy: v2_with_controllers" in payload["msg"]
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING and deployment.last_status_payload["running"] is True
    rpc_call((sim.namespace, sim.instance_id), "stop", {}, **FAST)
    assert commands.deployment_status(deployment=deployment, **FAST)["running"] is False
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.STOPPED


@pytest.mark.django_db
def test_a_status_the_instance_cannot_tell_changes_nothing(org_a, sim):
    deployment = make_deployment(org_a, sim)
    HummingbotDeployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.RUNNING)
    deployment.refresh_from_db()
    refusal = {"status": 400, "msg": "Hummingbot status command timed out after 30 seconds", "data": ""}
    sim.answer_raw = dumps({"header": {"reply_to": ""}, "data": refusal})
    assert commands.deployment_status(deployment=deployment, **FAST)["running"] is None
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.RUNNING
    assert BotEvent.objects.get(bot=deployment.bot, kind="hummingbot.status").level == "warning"


@pytest.mark.django_db
def test_a_missing_config_file_fails_the_import(org_a):
    with SimInstance(new_id(), heartbeat_seconds=1, strategies={"other": {"strategy": "avellaneda"}}) as sim:
        deployment = make_deployment(org_a, sim)
        with pytest.raises(CommandRefused, match="No such file"):
            commands.deployment_import(deployment=deployment, **FAST)
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    assert kinds(deployment) == ["hummingbot.import_failed"]


@pytest.mark.django_db
def test_import_reads_the_exported_file_from_the_conf_folder(org_a, tmp_path):
    (tmp_path / "conf_grid_1.yml").write_text("strategy: avellaneda_market_making\nmarket: ETH-USDT\n")
    with SimInstance(new_id(), heartbeat_seconds=1, conf_dir=tmp_path) as sim:
        deployment = make_deployment(org_a, sim, config_file="conf_grid_1.yml")
        commands.deployment_import(deployment=deployment, **FAST)
    assert sim.strategy_name == "avellaneda_market_making" and sim.params["market"] == "ETH-USDT"


@pytest.mark.django_db
def test_a_deployment_without_a_file_name_is_refused_before_sending(org_a, sim):
    deployment = make_deployment(org_a, sim, config_file="")
    with pytest.raises(ApplicationError) as refused:
        commands.deployment_import(deployment=deployment, **FAST)
    assert refused.value.field == "config_file"
    assert sim.received.total() == 0


@pytest.mark.django_db
def test_refused_settings_are_recorded(org_a):
    with SimInstance(new_id(), heartbeat_seconds=1, strategies={"conf_pmm": PMM}) as sim:
        deployment = make_deployment(org_a, sim, config_file="conf_pmm.yml")
        commands.deployment_import(deployment=deployment, **FAST)
        with pytest.raises(CommandRefused):
            commands.deployment_config(deployment=deployment, params={"bid_spread": 1, "nope": 2}, **FAST)
    event = BotEvent.objects.get(bot=deployment.bot, kind="hummingbot.config_failed")
    assert event.level == "error" and "nope" in event.message and event.data["changes"] == [["bid_spread", 1]]


@pytest.mark.django_db
def test_history_returns_the_trades_the_instance_recorded(org_a, sim):
    deployment = make_deployment(org_a, sim)
    commands.deployment_import(deployment=deployment, **FAST)
    commands.deployment_start(deployment=deployment, **FAST)
    sim.emit_fill(order_id="buy-1", side="BUY", price=100, amount="0.01", exchange_trade_id="T-1")
    sim.emit_fill(order_id="sell-1", side="SELL", price="100.5", amount="0.01", exchange_trade_id="T-2")
    trades = commands.deployment_history(deployment=deployment, days=1, **FAST)
    assert [(t["trade_id"], t["trade_type"], t["price"], t["quantity"]) for t in trades] == [
        ("T-1", "BUY", "100.", "0.01"),
        ("T-2", "SELL", "100.5", "0.01"),
    ]
    assert ("history", {"days": 1.0, "verbose": False, "precision": None, "async_backend": False}) in sim.requests
    assert BotEvent.objects.get(bot=deployment.bot, kind="hummingbot.history").data["trades"] == 2


@pytest.mark.django_db
def test_paper_balance_is_set_on_the_instance(org_a, sim):
    deployment = make_deployment(org_a, sim)
    answer = commands.instance_paper_balance(instance=deployment.instance, asset="btc", amount=2.5, **FAST)
    assert answer == {"data": None, "status": 200, "msg": ""}
    assert sim.paper_balances["BTC"] == 2.5
    event = BotEvent.objects.get(organization=org_a, kind="hummingbot.paper_balance")
    assert event.bot is None and event.data["asset"] == "BTC"


@pytest.mark.django_db
def test_it_never_sends_one_organizations_commands_to_another(org_a, org_b):
    a = SimInstance(new_id(), heartbeat_seconds=1)
    b = SimInstance(new_id(), namespace="beta", heartbeat_seconds=1)
    with a, b:
        mine, theirs = make_deployment(org_a, a), make_deployment(org_b, b)
        commands.deployment_import(deployment=mine, **FAST)
        commands.deployment_start(deployment=mine, **FAST)
        commands.deployment_stop(deployment=mine, **FAST)
        with pytest.raises(CommandTimeout):  # a's id in b's namespace is nobody
            rpc_call((b.namespace, a.instance_id), "status", {}, timeout=0.3, retries=0)
        time.sleep(0.1)
    assert a.starts == 1 and a.received.total() >= 4
    assert b.received.total() == 0 and not b.running
    assert HummingbotDeployment.objects.get(pk=theirs.pk).last_command == ""
    assert not BotEvent.objects.filter(organization=org_b).exists()


# -- tasks ------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_tasks_retry_a_timeout_then_give_up_and_leave_it_unknown(org_a, sim, fast, monkeypatch):
    deployment = make_deployment(org_a, sim)
    sim.drop_answers = -1
    monkeypatch.setattr(tasks.hb_status, "max_retries", 2)
    result = tasks.hb_status.apply(args=[deployment.pk])
    assert isinstance(result.result, CommandTimeout)
    assert sim.executed["status"] == 3
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.UNKNOWN


@pytest.mark.django_db
def test_tasks_retry_until_the_instance_answers(org_a, sim, fast):
    deployment = make_deployment(org_a, sim)
    sim.drop_answers = 2
    assert tasks.hb_import.apply(args=[deployment.pk]).get() == DeploymentStatus.DEPLOYING
    assert sim.executed["import"] == 3
    assert kinds(deployment) == ["hummingbot.no_answer", "hummingbot.no_answer", "hummingbot.imported"]


@pytest.mark.django_db
def test_a_refusal_is_not_retried(org_a, fast):
    with SimInstance(new_id(), heartbeat_seconds=1, strategies={}) as sim:
        deployment = make_deployment(org_a, sim)
        result = tasks.hb_start.apply(args=[deployment.pk])
    # Nothing imported: start tries to import the file, which is not in the conf folder.
    assert isinstance(result.result, CommandRefused)
    assert (sim.executed["start"], sim.executed["import"]) == (1, 1)
    assert kinds(deployment) == ["hummingbot.import_failed"]
    assert HummingbotDeployment.objects.get(pk=deployment.pk).status == DeploymentStatus.FAILED


@pytest.mark.django_db
def test_start_imports_the_strategy_when_the_instance_has_none(org_a, sim, fast):
    deployment = make_deployment(org_a, sim)
    assert tasks.hb_start.apply(args=[deployment.pk]).get() == DeploymentStatus.RUNNING
    assert [command for command, _ in sim.requests] == ["status", "start", "import", "start"]
    assert sim.starts == 1


def test_tasks_are_acked_late_and_retry_timeouts_only():
    for task in (tasks.hb_import, tasks.hb_config, tasks.hb_start, tasks.hb_stop, tasks.hb_status, tasks.hb_history):
        assert task.acks_late is True
        assert task.autoretry_for == (CommandTimeout,)
        assert task.max_retries == tasks.MAX_RETRIES
    assert tasks.hb_deploy.acks_late is True


@pytest.mark.django_db
def test_a_task_for_a_deleted_deployment_does_nothing():
    assert tasks.hb_start.apply(args=[987654321]).get() is None
