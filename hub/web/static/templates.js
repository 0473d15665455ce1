// Ready-made announcements: emergencies (fire, flood, power cut, all clear) and repeated notices.
// The title and text stay Vietnamese in both languages of the app: the speakers read Vietnamese to
// residents. What is in [brackets] is for the head to fill in; the form refuses to send it as is.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { confirmBox, sheet } from "./ui.js";

export const TEMPLATES = [
  {
    id: "fire", group: "emergency", priority: "emergency", title: "Báo cháy",
    text: "Khẩn cấp! Đang xảy ra cháy tại [địa điểm]. Đề nghị bà con bình tĩnh, ngắt điện, "
      + "đưa người già và trẻ em ra nơi an toàn, không lại gần đám cháy, nhường đường cho xe cứu hoả. "
      + "Số điện thoại cứu hoả: 114.",
  },
  {
    id: "flood", group: "emergency", priority: "emergency", title: "Cảnh báo lũ, ngập",
    text: "Khẩn cấp! Nước đang dâng cao tại [khu vực]. Đề nghị bà con kê cao đồ đạc, ngắt điện tầng trệt, "
      + "đưa người già, trẻ em và xe cộ đến nơi cao ráo. Không đi qua vùng nước chảy xiết.",
  },
  {
    id: "power", group: "emergency", priority: "priority", title: "Mất điện đột xuất",
    text: "Thông báo: khu dân cư đang mất điện do [nguyên nhân]. Điện lực đang khắc phục, dự kiến có điện lại "
      + "lúc [giờ]. Bà con chú ý an toàn khi dùng nến, đèn dầu và máy phát điện.",
  },
  {
    id: "clear", group: "emergency", priority: "priority", title: "Đã an toàn",
    text: "Thông báo: sự cố [sự cố] tại [địa điểm] đã được xử lý, khu vực đã an toàn. "
      + "Bà con có thể trở về nhà và sinh hoạt bình thường. Cảm ơn bà con đã phối hợp.",
  },
  {
    id: "fee", group: "notice", priority: "normal", title: "Thu phí vệ sinh",
    text: "Thông báo: tổ dân phố thu phí vệ sinh môi trường tháng [tháng], mức [số tiền] đồng mỗi hộ, "
      + "từ ngày [ngày] đến ngày [ngày] tại nhà văn hoá. Đề nghị các hộ nộp đúng hạn.",
  },
  {
    id: "meeting", group: "notice", priority: "normal", title: "Họp tổ dân phố",
    text: "Kính mời đại diện các hộ gia đình dự họp tổ dân phố lúc [giờ] ngày [ngày] tại nhà văn hoá. "
      + "Nội dung: [nội dung]. Đề nghị bà con đi họp đầy đủ, đúng giờ.",
  },
  {
    id: "vaccine", group: "notice", priority: "normal", title: "Lịch tiêm chủng",
    text: "Thông báo: trạm y tế tổ chức tiêm [loại vắc xin] cho [đối tượng] ngày [ngày], từ [giờ] "
      + "tại [địa điểm]. Khi đi, bà con nhớ mang theo sổ tiêm chủng.",
  },
  {
    id: "outage", group: "notice", priority: "normal", title: "Lịch cắt điện",
    text: "Thông báo: điện lực tạm ngừng cấp điện để bảo dưỡng lưới điện từ [giờ] đến [giờ] ngày [ngày] "
      + "tại [khu vực]. Đề nghị bà con chủ động sắp xếp sinh hoạt.",
  },
];

const BLANK = /\[[^\]\n]{1,40}\]/;

/** The first [blank] left in a text, or null. */
export function firstBlank(text) {
  const m = BLANK.exec(text || "");
  return m ? { start: m.index, end: m.index + m[0].length, text: m[0] } : null;
}

/** The sheet of templates; ``onPick(template)`` fills the form. */
export function templateSheet(onPick) {
  sheet(t("template.title"), (body, close) => {
    for (const group of ["emergency", "notice"]) {
      body.append(
        h("h3", { class: "template-group", text: t(`template.group_${group}`) }),
        h("ul", { class: "list" }, TEMPLATES.filter((tpl) => tpl.group === group).map((tpl) => h("li", {},
          h("button", {
            class: "item", type: "button", dataset: { template: tpl.id },
            onclick: () => { close(); onPick(tpl); },
          },
          h("span", { class: "body" },
            h("span", { class: "title", text: t(`template.${tpl.id}`) }),
            h("span", { class: "meta template-text", text: tpl.text })))))));
    }
  });
}

/** Choose a radio of a segmented control as a tap would (its change handler runs). */
function choose(segment, value) {
  const input = segment.el.querySelector(`input[value="${value}"]`);
  if (input && !input.checked) input.click();
}

/**
 * The form's "Mẫu có sẵn" button: a template fills the title, the text and the level, and the
 * first [blank] is selected for typing over. ``form``: { title, text, priority, mode } controls.
 */
export function templateButton({ title, text, priority, mode }) {
  async function apply(tpl) {
    const typed = title.value.trim() || text.value.trim();
    const unchanged = TEMPLATES.some((x) => x.title === title.value && x.text === text.value);
    if (typed && !unchanged) {
      const sure = await confirmBox({ title: t("template.replace_title"), message: t("template.replace"), confirm: t("template.replace_ok") });
      if (!sure) return;
    }
    choose(mode, "text");
    choose(priority, tpl.priority);
    title.value = tpl.title;
    text.value = tpl.text;
    const blank = firstBlank(tpl.text);
    text.focus();
    if (blank) text.setSelectionRange(blank.start, blank.end);
  }
  return h("button", {
    class: "btn btn-ghost btn-sm", type: "button", dataset: { action: "templates" },
    text: t("template.open"), onclick: () => templateSheet(apply),
  });
}
