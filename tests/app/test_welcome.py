"""First run: the welcome view (demo, create with connection tests, open) and the settings
dialog. Every check runs on a worker; the tests wait for signals, never sleep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labshelf.app.gateway import instance_configured
from labshelf.app.instances.connection_check import (
    CheckFailed,
    _explain_pg,
    check_database,
    check_storage,
)
from labshelf.app.instances.welcome import WelcomeView
from labshelf.app.shell.app_settings import AppSettings, open_settings
from labshelf.app.shell.settings_dialog import SettingsDialog
from labshelf.app.shell.welcome_window import WelcomeWindow
from PySide6.QtCore import Qt
from services import free_port

WAIT_MS = 60_000


@pytest.fixture
def disconnect_after() -> Iterator[None]:
    from labshelf.instance import disconnect

    yield
    disconnect()


@pytest.fixture
def view(qtbot, disconnect_after) -> Iterator[WelcomeView]:
    widget = WelcomeView()
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def _status_settles(qtbot, view: WelcomeView) -> str:
    qtbot.waitUntil(lambda: not view.progress.isVisible(), timeout=WAIT_MS)
    return view.status.text()


def test_no_instance_means_welcome(disconnect_after: None, tmp_path: Path) -> None:
    import labshelf as ls

    assert not instance_configured()
    ls.init(str(tmp_path / "store"))
    assert instance_configured()


def test_try_the_demo_opens_an_instance_with_the_iris_studies(qtbot, view: WelcomeView) -> None:
    with qtbot.waitSignal(view.instance_ready, timeout=WAIT_MS) as ready:
        qtbot.mouseClick(view.demo_button, Qt.MouseButton.LeftButton)
    assert view.progress.isVisible() is False
    assert ready.args[0]["name"] == "iris-demo"
    import labshelf as ls

    assert ls.Collection.filter(name="Iris studies").count() == 3
    assert ls.Artifact.filter(key="iris_studies/meta.csv").one().run is not None


def test_test_connection_on_a_folder_says_it_can_be_used(
    qtbot, view: WelcomeView, tmp_path: Path
) -> None:
    view.create_button.click()
    view.storage.setText(str(tmp_path / "new"))
    view.test_button.click()
    assert _status_settles(qtbot, view) == "Both can be used."
    assert "will be created" in view.notes["storage"].text()  # under the storage field
    assert "SQLite" in view.notes["db"].text()


def test_unreachable_postgres_is_said_in_plain_words(
    qtbot, view: WelcomeView, tmp_path: Path
) -> None:
    view.create_button.click()
    view.storage.setText(str(tmp_path / "new"))
    view.db.setText(f"postgresql+psycopg://someone:secret@127.0.0.1:{free_port()}/lab")
    view.test_button.click()
    _status_settles(qtbot, view)
    note = view.notes["db"]
    text = note.text()
    assert "cannot be reached" in text and "127.0.0.1" in text
    assert "secret" not in text
    assert note.property("error") is True and note.isVisible()
    assert view.notes["storage"].property("error") is False  # the folder is fine
    # the error sits right under its field, not at the foot of the window
    field_bottom = view.db.mapTo(view, view.db.rect().bottomLeft()).y()
    assert 0 <= note.mapTo(view, note.rect().topLeft()).y() - field_bottom < 40


def test_create_an_instance_in_a_folder(qtbot, view: WelcomeView, tmp_path: Path) -> None:
    view.create_button.click()
    view.storage.setText(str(tmp_path / "lab"))
    view.name.setText("lab")
    with qtbot.waitSignal(view.instance_ready, timeout=WAIT_MS) as ready:
        view.create_ok.click()
    assert ready.args[0]["name"] == "lab"
    assert (tmp_path / "lab" / ".labshelf" / "labshelf.db").exists()


def test_open_lists_configured_instances_and_opens_one(
    qtbot, view: WelcomeView, tmp_path: Path
) -> None:
    import labshelf as ls
    from labshelf.config import current_file as _current_file
    from labshelf.instance import disconnect

    ls.init(str(tmp_path / "a"), name="alpha")
    ls.init(str(tmp_path / "b"), name="beta")
    disconnect()
    _current_file().unlink()
    view.open_button.click()
    qtbot.waitUntil(lambda: view.instances.count() == 2, timeout=WAIT_MS)
    names = [view.instances.item(i).data(Qt.ItemDataRole.UserRole) for i in range(2)]
    assert names == ["alpha", "beta"]
    view.instances.setCurrentRow(1)
    with qtbot.waitSignal(view.instance_ready, timeout=WAIT_MS) as ready:
        view.open_ok.click()
    assert ready.args[0]["name"] == "beta"


def test_opening_a_missing_instance_fails_in_plain_words(
    qtbot, view: WelcomeView, tmp_path: Path
) -> None:
    view.open_button.click()
    _status_settles(qtbot, view)
    view.target.setText(str(tmp_path / "nothing-here"))
    view.open_ok.click()
    _status_settles(qtbot, view)
    assert "No instance matches" in view.notes["target"].text()
    assert view.notes["target"].property("error") is True


def test_welcome_window_hands_over_to_the_main_window(
    qtbot, disconnect_after, tmp_path: Path
) -> None:
    window = WelcomeWindow()
    qtbot.addWidget(window)
    window.show()
    window.view.create_button.click()
    window.view.storage.setText(str(tmp_path / "lab"))
    with qtbot.waitSignal(window.opened, timeout=WAIT_MS) as opened:
        window.view.create_ok.click()
    main = opened.args[0]
    qtbot.addWidget(main)
    assert main.objectName() == "mainWindow" and main.isVisible()
    assert not window.isVisible()
    main.close()


# -- the checks themselves -----------------------------------------------------------------


def test_a_file_is_not_a_storage_folder(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckFailed, match="is a file"):
        check_storage(str(tmp_path / "f"))


def test_an_unparsable_database_url_is_named_without_its_password() -> None:
    with pytest.raises(CheckFailed, match="is not a valid database URL") as info:
        check_database("postgresql://bob:Secr3t-pw@db.lab:notaport/lab")
    assert "Secr3t-pw" not in str(info.value) and "bob:***@db.lab" in str(info.value)


def test_pg_messages_name_the_cause() -> None:
    rejected = _explain_pg(
        'FATAL:  password authentication failed for user "bob"', "h:5432", "lab", "bob"
    )
    assert "rejected the user 'bob'" in rejected
    missing = _explain_pg('FATAL:  database "lab" does not exist', "h:5432", "lab", "bob")
    assert "no database 'lab'" in missing


@pytest.mark.pg
def test_postgres_check_against_a_real_server(pg_server: Any) -> None:
    assert "Connected to PostgreSQL" in check_database(pg_server.url())
    with pytest.raises(CheckFailed, match="rejected the user 'nobody'"):
        check_database(pg_server.url().replace("postgres@", "nobody@"))
    with pytest.raises(CheckFailed, match="no database 'nope'"):
        check_database(pg_server.url("nope"))


@pytest.mark.cloud
def test_missing_s3_credentials_say_how_to_set_them_under_the_storage_field(
    qtbot, view: WelcomeView, s3_server: Any, monkeypatch, tmp_path: Path
) -> None:
    bucket = s3_server.create_bucket()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    view.create_button.click()
    view.storage.setText(f"s3://{bucket}")
    view.create_ok.click()
    _status_settles(qtbot, view)
    note = view.notes["storage"]
    assert note.property("error") is True
    assert "No credentials were found" in note.text() and "~/.aws/credentials" in note.text()
    assert "AWS_ACCESS_KEY_ID" in note.text() and not view.status.text()
    assert not instance_configured()


@pytest.mark.cloud
def test_missing_bucket_is_said_in_plain_words(s3_server: Any) -> None:
    bucket = s3_server.create_bucket()
    assert "reachable" in check_storage(f"s3://{bucket}")
    with pytest.raises(CheckFailed, match="does not exist"):
        check_storage("s3://no-such-bucket-here")


# -- settings --------------------------------------------------------------------------------


def test_settings_dialog_stores_app_and_cache_settings(
    qtbot, instance: Any, tmp_path: Path
) -> None:
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.cache_dir.isEnabled, timeout=WAIT_MS)
    assert "apptest" in dialog.status.text()
    dialog.user.setText("ada")
    dialog.cache_dir.setText(str(tmp_path / "cache"))
    dialog.cache_cap.setValue(2.5)
    dialog.workers.setValue(6)
    dialog.thumb.setCurrentIndex(dialog.thumb.findData(200))
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        dialog.save()
    assert AppSettings.load() == AppSettings(
        user="ada", upload_workers=6, thumbnail_size=200, theme="dark"
    )
    from labshelf.config import InstanceConfig, user_handle

    config = InstanceConfig.read("apptest")
    assert config.cache_dir == str(tmp_path / "cache")
    assert config.cache_max_bytes == 2_500_000_000
    assert user_handle() == "ada"
    from labshelf.app import upload_worker

    assert upload_worker.LOCAL_UPLOAD_WORKERS == 6
    AppSettings().save()  # back to the defaults for the tests that follow
    from labshelf.app.shell import app_settings

    app_settings.apply(AppSettings(user="testuser", theme="light"))


def test_settings_dialog_without_an_instance(qtbot, disconnect_after) -> None:
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "No instance" in dialog.status.text(), timeout=WAIT_MS)
    assert not dialog.cache_dir.isEnabled()
    dialog.theme.setCurrentIndex(dialog.theme.findData("light"))
    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        dialog.save()
    assert open_settings().value("theme") == "light"


def test_main_window_has_a_settings_action(qtbot, instance: Any) -> None:
    from labshelf.app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    action = window.findChild(type(window.menuBar().actions()[0]), "settingsAction")
    assert action is not None
    dialog = window.open_settings_dialog()
    assert dialog.objectName() == "settingsDialog"
    dialog.reject()
    window.close()
