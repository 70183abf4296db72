"""Mouse hover, drags and clicks for pytest-qt tests: the events a real pointer sends to a pane,
delivered directly.

QTest.mouseMove on the offscreen platform synthesises enter/leave events only from the cursor
position it remembers across tests, so a hover test could see no move (the cursor was already
there) or no leave. These send the same QMouseEvent(MouseMove) and QEvent(Leave) to the widget's
own handlers, whatever an earlier test did with the cursor.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QEnterEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget


def hover(widget: QWidget, pos: QPoint) -> None:
    """The pointer enters ``widget`` and moves to ``pos`` with no button pressed."""
    local = QPointF(pos)
    glob = QPointF(widget.mapToGlobal(pos))
    QApplication.sendEvent(widget, QEnterEvent(local, local, glob))
    QApplication.sendEvent(widget, QMouseEvent(
        QEvent.Type.MouseMove, local, local, glob, Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def leave(widget: QWidget) -> None:
    """The pointer leaves ``widget``."""
    QApplication.sendEvent(widget, QEvent(QEvent.Type.Leave))



def drag(widget: QWidget, start: QPoint, end: QPoint, steps: int = 4,
         button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    """Press ``button`` at ``start``, move to ``end`` in ``steps`` moves, release there."""
    def send(kind: QEvent.Type, pos: QPointF, which: Qt.MouseButton,
             held: Qt.MouseButton) -> None:
        glob = QPointF(widget.mapToGlobal(pos.toPoint()))
        QApplication.sendEvent(widget, QMouseEvent(kind, pos, pos, glob, which, held,
                                                   Qt.KeyboardModifier.NoModifier))

    a, b = QPointF(start), QPointF(end)
    send(QEvent.Type.MouseButtonPress, a, button, button)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, a + (b - a) * (i / steps), Qt.MouseButton.NoButton, button)
    send(QEvent.Type.MouseButtonRelease, b, button, Qt.MouseButton.NoButton)


def click(widget: QWidget, pos: QPoint) -> None:
    """A left click at ``pos`` (press and release, no move)."""
    drag(widget, pos, pos, steps=0)
