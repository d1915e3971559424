// SPDX-License-Identifier: MIT
// The window: a prime count in a worker (progress, Start, Cancel) and the
// pool's live properties. `counter` is a PrimeCounter (C++), `counter.pool`
// its ProcessPool: every property used here has a NOTIFY signal, so each
// binding follows the pool.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ApplicationWindow {
    id: window
    required property QtObject counter
    readonly property QtObject pool: counter.pool

    width: 520
    height: 360
    visible: true
    title: qsTr("QtProcessPool: Qt Quick example")

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 8

        RowLayout {
            Label { text: qsTr("Count the primes below (millions)") }
            SpinBox {
                id: limitBox
                objectName: "limitBox"
                from: 1
                to: 2000
                value: 20
                editable: true
            }
        }
        ProgressBar {
            objectName: "progressBar"
            Layout.fillWidth: true
            from: 0
            to: window.counter.progressMaximum
            value: window.counter.progress
        }
        Label {
            objectName: "statusLabel"
            text: window.counter.status
        }
        RowLayout {
            Button {
                objectName: "startButton"
                text: qsTr("Start")
                enabled: !window.counter.running
                onClicked: window.counter.start(limitBox.value * 1000000)
            }
            Button {
                objectName: "cancelButton"
                text: qsTr("Cancel")
                enabled: window.counter.running
                onClicked: window.counter.cancel()
            }
        }

        GroupBox {
            title: qsTr("Pool")
            Layout.fillWidth: true
            GridLayout {
                columns: 4
                columnSpacing: 16
                Label { text: qsTr("Workers") }
                Label { objectName: "workersLabel"; text: String(window.pool.workerCount) }
                Label { text: qsTr("Busy") }
                Label { objectName: "busyLabel"; text: String(window.pool.busyWorkerCount) }
                Label { text: qsTr("Queued") }
                Label { objectName: "queuedLabel"; text: String(window.pool.queuedTaskCount) }
                Label { text: qsTr("Running") }
                Label { objectName: "runningLabel"; text: String(window.pool.runningTaskCount) }
                Label { text: qsTr("Max workers") }
                SpinBox {
                    objectName: "maxWorkersBox"
                    from: 1
                    to: 64
                    value: window.pool.maxWorkers
                    onValueModified: window.pool.maxWorkers = value
                }
                Label { text: qsTr("Idle timeout (s)") }
                SpinBox {
                    objectName: "idleTimeoutBox"
                    from: 0
                    to: 3600
                    value: window.pool.idleTimeoutMs / 1000
                    onValueModified: window.pool.idleTimeoutMs = value * 1000
                }
            }
        }
    }
}
