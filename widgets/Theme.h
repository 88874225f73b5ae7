#pragma once
// Lathe's look: the Fusion style, a calm light palette, one accent colour and a style sheet keyed on
// object names and dynamic properties ("card", "role"), so pages describe what a widget is, not its colours.

#include <QColor>

class QApplication;
class QWidget;

namespace lathe::widgets {

namespace theme {
inline const QColor kAccent{0x3b, 0x6f, 0xd8};
inline const QColor kAccentSoft{0xe7, 0xee, 0xfc};
inline const QColor kText{0x1f, 0x23, 0x28};
inline const QColor kMuted{0x6a, 0x73, 0x7d};
inline const QColor kBorder{0xdf, 0xe3, 0xe8};
inline const QColor kWindow{0xf4, 0xf5, 0xf7};
inline const QColor kDanger{0xc6, 0x28, 0x28};
inline const QColor kSuccess{0x2e, 0x7d, 0x32};
inline const QColor kDiffHighlight{0xff, 0xf4, 0xce};
inline const QColor kSeriesB{0xe0, 0x6c, 0x1f}; // second run in comparisons
} // namespace theme

void applyTheme(QApplication& app);
// Marks a widget as a card (white, rounded, bordered) through the style sheet.
void makeCard(QWidget* widget);
// Sets the "role" property (title, subtitle, muted, stat) and repolishes.
void setRole(QWidget* widget, const char* role);

} // namespace lathe::widgets
