// Names of the trade vocabulary shown in the browser: exchanges and categories, in the order the forms list them.
import { common, trade } from "@trademesh/sdk";
import { enumLabel } from "./format";

export const EXCHANGES = [common.Exchange.NSE, common.Exchange.BSE, common.Exchange.NFO, common.Exchange.BFO, common.Exchange.MCX, common.Exchange.CDS, common.Exchange.BCD];
export const CATEGORIES = [trade.TradeCategory.INTRADAY, trade.TradeCategory.SWING, trade.TradeCategory.LONG_TERM];

export const exchangeName = (value: common.Exchange): string => common.Exchange[value] ?? "?";
export const categoryName = (value: trade.TradeCategory): string => enumLabel(trade.TradeCategory[value], "");
