/* German (and Swedish) -> English normaliser for ECG reports (PTB-XL), so
 * that German reports and English prompts meet in one embedding space.
 *
 * The lexicon (models/text/de_en_ecg_lexicon.tsv: SOURCE<TAB>ENGLISH) is
 * matched on lower-cased words with umlauts folded (ä->ae, ö->oe, ü->ue,
 * ß->ss): at each word the longest phrase (up to the longest entry, words
 * joined by spaces, '-' or '.') is replaced; a word matching nothing is
 * tried as a compound of lexicon words (>= 3 characters each, optional
 * linking 's'), e.g. vorderwand|infarkt -> "anterior wall infarction";
 * anything else is kept (lower-cased, folded). Punctuation and numbers are
 * kept. */
#ifndef ETP_TEXT_REPORTNORM_H
#define ETP_TEXT_REPORTNORM_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EtpReportNorm EtpReportNorm;

/* Path of the lexicon in the source tree (compile-time), or NULL. */
const gchar *etp_report_norm_default_lexicon (void);

/* @path NULL = the default lexicon (env ETP_TEXT_LEXICON overrides). */
EtpReportNorm *etp_report_norm_new (const gchar * path, GError ** error);
void etp_report_norm_free (EtpReportNorm * rn);
guint etp_report_norm_n_entries (const EtpReportNorm * rn);

/* Returns the normalised text (newly allocated; the input must be valid
 * UTF-8). */
gchar *etp_report_norm_apply (const EtpReportNorm * rn, const gchar * text);

/* Lower-case + umlaut folding, as used for matching. */
gchar *etp_report_norm_fold (const gchar * text);

G_END_DECLS

#endif
