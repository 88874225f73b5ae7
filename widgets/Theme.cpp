#include "widgets/Theme.h"

#include <QApplication>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>
#include <QWidget>

namespace lathe::widgets {
namespace {

const char* kStyleSheet = R"(
QMainWindow, QStackedWidget > QWidget#page { background: #f4f5f7; }
QListWidget#sidebar { background: #1e232c; color: #c5ccd6; border: none; font-size: 14px; padding-top: 8px; outline: 0; }
QListWidget#sidebar::item { padding: 10px 14px; border-left: 3px solid transparent; }
QListWidget#sidebar::item:selected { background: #2b3340; color: #ffffff; border-left: 3px solid #5b8ef0; }
QListWidget#sidebar::item:hover:!selected { background: #262c37; }
QLabel#brand { background: #1e232c; color: #ffffff; font-size: 18px; font-weight: 600; padding: 16px 16px 8px 16px; }
QLabel[role="title"] { font-size: 20px; font-weight: 600; color: #1f2328; }
QLabel[role="subtitle"] { font-size: 13px; color: #6a737d; }
QLabel[role="section"] { font-size: 12px; font-weight: 600; color: #6a737d; text-transform: uppercase; }
QLabel[role="muted"] { color: #6a737d; }
QLabel[role="stat"] { color: #6a737d; font-size: 12px; }
QLabel[role="error"] { color: #c62828; }
QLabel[role="bigvalue"] { font-size: 22px; font-weight: 600; color: #1f2328; }
QFrame[card="true"] { background: #ffffff; border: 1px solid #dfe3e8; border-radius: 8px; }
QFrame[card="true"] QLabel { background: transparent; border: none; }
QPushButton { padding: 5px 14px; border-radius: 5px; border: 1px solid #c9ced6; background: #ffffff; }
QPushButton:hover { background: #f0f2f5; }
QPushButton:disabled { color: #a0a7b0; background: #f6f7f9; }
QPushButton[accent="true"] { background: #3b6fd8; color: #ffffff; border: 1px solid #3b6fd8; }
QPushButton[accent="true"]:hover { background: #3463c4; }
QPushButton[accent="true"]:disabled { background: #a9bfec; border-color: #a9bfec; }
QPushButton[danger="true"] { color: #c62828; }
QToolButton { border: none; padding: 3px 6px; border-radius: 4px; color: #6a737d; }
QToolButton:hover { background: #e9ecf0; color: #1f2328; }
QLineEdit, QPlainTextEdit { border: 1px solid #c9ced6; border-radius: 5px; padding: 4px 6px; background: #ffffff; }
QLineEdit:focus, QPlainTextEdit:focus { border: 1px solid #3b6fd8; }
QTableView, QListView { background: #ffffff; border: 1px solid #dfe3e8; border-radius: 6px; selection-background-color: #dce6fb; selection-color: #1f2328; alternate-background-color: #f8f9fb; }
QListView#chatList::item, QListView#modelList::item { padding: 8px 6px; }
QHeaderView::section { background: #f4f5f7; border: none; border-bottom: 1px solid #dfe3e8; padding: 5px 6px; font-weight: 600; color: #444c56; }
QStatusBar { background: #ffffff; border-top: 1px solid #dfe3e8; color: #444c56; }
QStatusBar QLabel { padding: 0 10px; }
QProgressBar { border: 1px solid #c9ced6; border-radius: 4px; background: #ffffff; text-align: center; height: 16px; }
QProgressBar::chunk { background: #3b6fd8; border-radius: 3px; }
QScrollArea#chatScroll { background: #f4f5f7; border: none; }
QWidget#chatCanvas { background: #f4f5f7; }
QFrame#messageUser { background: #e7eefc; border: 1px solid #cfdcf7; border-radius: 10px; }
QFrame#messageAssistant { background: #ffffff; border: 1px solid #dfe3e8; border-radius: 10px; }
QFrame#messageSystem { background: #fbf7e9; border: 1px solid #eadfb8; border-radius: 10px; }
QFrame#dropZone { border: 2px dashed #b6c3d6; border-radius: 10px; background: #fafbfd; }
QFrame#dropZone[active="true"] { border: 2px dashed #3b6fd8; background: #e7eefc; }
QSplitter::handle { background: #e4e7eb; }
QGroupBox { font-weight: 600; border: 1px solid #dfe3e8; border-radius: 6px; margin-top: 14px; background: #ffffff; }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #444c56; }
)";

} // namespace

void applyTheme(QApplication& app) {
    app.setStyle(QStyleFactory::create("Fusion"));
    QPalette palette = app.palette();
    palette.setColor(QPalette::Window, theme::kWindow);
    palette.setColor(QPalette::WindowText, theme::kText);
    palette.setColor(QPalette::Base, Qt::white);
    palette.setColor(QPalette::AlternateBase, QColor(0xf8, 0xf9, 0xfb));
    palette.setColor(QPalette::Text, theme::kText);
    palette.setColor(QPalette::Button, Qt::white);
    palette.setColor(QPalette::ButtonText, theme::kText);
    palette.setColor(QPalette::Highlight, QColor(0xdc, 0xe6, 0xfb));
    palette.setColor(QPalette::HighlightedText, theme::kText);
    palette.setColor(QPalette::PlaceholderText, QColor(0x9a, 0xa1, 0xaa));
    palette.setColor(QPalette::Link, theme::kAccent);
    app.setPalette(palette);
    QFont font = app.font();
    font.setPointSizeF(10.0);
    app.setFont(font);
    app.setStyleSheet(kStyleSheet);
}

void makeCard(QWidget* widget) {
    widget->setProperty("card", true);
    widget->setAttribute(Qt::WA_StyledBackground, true);
}

void setRole(QWidget* widget, const char* role) {
    widget->setProperty("role", role);
    widget->style()->unpolish(widget);
    widget->style()->polish(widget);
}

} // namespace lathe::widgets
