import { flatString, Random, Zipf } from './prng.js'

/**
 * The simulator's fixed pools: words, emotes, rooms and nicks, built once at
 * load from a constant seed (the run seed only drives the sampling, so a
 * word's or room's popularity rank is the same for every seed, as in real
 * chat where "lol" and #xqc are always near the top).
 */

const POOL_SEED = 0x5eed_c4a7

const EDGE_PUNCTUATION = /^\p{P}|\p{P}$/u
const WHITE_SPACE = /\p{White_Space}/u

/** True when `word` is a canonical word: NFC, lower-case, no edge punctuation or white space, at most 64 code points. */
export function isCanonicalWord (word: string): boolean {
  return word !== '' &&
    word === word.normalize('NFC') &&
    word === word.toLowerCase() &&
    !EDGE_PUNCTUATION.test(word) &&
    !WHITE_SPACE.test(word) &&
    Array.from(word).length <= 64
}

/** Canonical words (NFC, lower-case, no edge punctuation), roughly by real chat frequency. */
const CORE_WORDS = [
  'lol', 'the', 'i', 'you', 'gg', 'a', 'is', 'lmao', 'this', 'it', 'kkkkk', 'what', 'no', 'ㅋㅋㅋ', 'yes', 'and',
  'chat', 'that', 'so', 'omg', '😂', 'to', 'my', 'pog', 'bro', 'just', 'like', 'wtf', 'me', 'guys', 'ez', 'not',
  'jajaja', 'can', 'why', 'stream', 'do', 'we', 'how', 'are', 'for', 'good', 'game', 'nice', 'haha', 'w', 'l',
  'ok', 'yeah', 'man', 'dude', 'love', 'hi', 'hello', 'bruh', 'xd', 'kek', 'it\'s', 'don\'t', 'i\'m', 'can\'t',
  'that\'s', 'he', 'was', 'in', 'of', 'be', 'on', 'have', 'copium', 'clip', 'ratio', 'sus', 'based', 'cringe',
  'true', 'real', 'fr', 'ngl', 'tbh', 'idk', 'wait', 'go', 'get', 'one', 'all', 'now', 'time', 'play', 'win',
  'dead', 'insane', 'crazy', 'clutch', 'noob', 'pro', 'lag', 'hype', 'poggers', 'first', 'again', 'never', 'here',
  'today', 'please', 'thanks', 'sorry', 'happy', 'birthday', 'new', 'year', 'big', 'best', 'mods', 'ban', 'sub',
  'prime', 'raid', 'follow', '1', '2', '3', '10', '100', '69', '420', '1v1', '5head', '🤣', '❤️', '👍', '🔥',
  '💀', '😭', '🙏', '👀', '🥺', '🐐', '🇧🇷', '👨‍👩‍👧', '😳', '🤡', '✅', '💯', '🎉', '♥', '^^', '+1', '$$$',
  '¯\\_(ツ)_/¯', 'don’t', 'ㅋㅋㅋㅋ', 'ㅋㅋㅋㅋㅋㅋㅋ', 'ㅎㅎ', 'ㅠㅠ', 'kkkk', 'jajajaja', 'hahaha', 'www',
  // Turkish
  'kap', 'gel', 'başkan', 'çok', 'güzel', 'değil', 'şimdi', 'iyi', 'ağla', 'abi', 'hocam', 'kanka', 'evet',
  'hayır', 'neden', 'nasıl', 'selam', 'teşekkürler', 'harika', 'aynen', 'kardeş', 'oyun', 'yayın', 'ılık', 'kız',
  'sağol',
  // Portuguese
  'não', 'você', 'então', 'é', 'está', 'também', 'coração', 'obrigado', 'feliz', 'natal', 'ano', 'novo',
  'aniversário', 'pra', 'bom', 'resto', 'mãe', 'pão', 'muito', 'ótimo', 'mano', 'cara', 'vamos', 'joga', 'ganhou',
  'perdeu', 'jogo', 'irmão', 'ação',
  // Spanish
  'qué', 'señor', 'niño', 'años', 'sí', 'gracias', 'hola', 'bueno', 'españa', 'cómo', 'mañana', 'pequeño',
  // German
  'schön', 'grüß', 'straße', 'für', 'über', 'danke', 'gut', 'ja', 'nein', 'geil', 'bitte', 'natürlich', 'müde',
  // French
  'très', 'déjà', 'ça', 'c\'est', 'oui', 'merci', 'bien', 'génial', 'français',
  // Polish
  'dzień', 'cześć', 'żółw', 'dobry', 'tak', 'nie', 'jest', 'pięknie',
  // Russian and Ukrainian
  'привет', 'да', 'нет', 'что', 'это', 'как', 'хорошо', 'спасибо', 'лол', 'кек', 'ахаха', 'круто', 'ещё',
  'пожалуйста', 'брат', 'чат', 'игра', 'стрим', 'дякую', 'її',
  // Korean, Japanese, Chinese
  '안녕하세요', '감사합니다', '진짜', '대박', '뭐야', '헐', '草', 'かわいい', 'すごい', 'おはよう', 'ありがとう',
  'やばい', '888', '哈哈哈', '好', '加油', '厉害',
  // Greek, Arabic, Thai, Vietnamese
  'γεια', 'ναι', 'ευχαριστώ', 'مرحبا', 'شكرا', '555', 'สวัสดี', 'được', 'không', 'việt'
]

/** Tokens that carry no word (all punctuation): `:)` is no word. */
export const PUNCTUATION_TOKENS = [':)', ':(', '...', '?', '!!!', '-', '—', '?!', '!?', '...?', ';)', '**', '//', '¿?']
/** Punctuation typed before a word (stripped by the word rule). */
export const LEADING_PUNCTUATION = ['"', '(', '¿', '¡', '*', '#', '\'', '«']
/** Punctuation typed after a word. */
export const TRAILING_PUNCTUATION = [',', '.', '!', '?', '!!', '...', '?!', ')', '"', ':', '»', '...!']

export const VOCABULARY_SIZE = 5000
export const ROOM_COUNT = 3000
export const NICK_COUNT = 40_000

/** A word of the vocabulary and the ways it may be typed (each one reads back as `word`). */
export interface VocabularyWord {
  word: string
  /** First letter upper-case, or null when that would not read back as the word (ß, ı, İ...). */
  capitalized: string | null
  /** All upper-case (shouting), or null when that would not read back. */
  upper: string | null
  /** The same spellings decomposed (NFD: `e` + U+0301 for `é`), or null when the word has nothing to decompose. */
  decomposed: { word: string, capitalized: string | null, upper: string | null } | null
}

export interface Emote {
  id: string
  text: string
  /** The word the emote's text also is (`<3`), or null when it is all punctuation (`:)`). */
  word: string | null
}

// Real Twitch ids where they are well known; the third-party-style ones use Twitch's v2 id format.
const EMOTE_NAMES: ReadonlyArray<{ id: string, text: string }> = [
  { id: '425618', text: 'LUL' },
  { id: 'emotesv2_2b5d1f9c6d1e4f0f9a7e3c8b1d2a4e6f', text: 'KEKW' },
  { id: '25', text: 'Kappa' },
  { id: '305954156', text: 'PogChamp' },
  { id: 'emotesv2_8c3f0a7b5e2d4c1a9f6b3e0d7c4a1b8e', text: 'OMEGALUL' },
  { id: 'emotesv2_4e1a7d0c3b6f4e9a8d2c5b1f0e7a3d6c', text: 'monkaS' },
  { id: '9', text: '<3' },
  { id: '41', text: 'Kreygasm' },
  { id: '86', text: 'BibleThump' },
  { id: '354', text: '4Head' },
  { id: '58765', text: 'NotLikeThis' },
  { id: '64138', text: 'SeemsGood' },
  { id: '245', text: 'ResidentSleeper' },
  { id: '120232', text: 'TriHard' },
  { id: 'emotesv2_9d4b2e7f1a3c4d8e6b0f5a2c7e1d9b3a', text: 'Sadge' },
  { id: 'emotesv2_1f6c3a9e4d7b4a2f8e5c0b3d6a9f2e4c', text: 'PepeHands' },
  { id: '30259', text: 'HeyGuys' },
  { id: '33', text: 'DansGame' },
  { id: '28087', text: 'WutFace' },
  { id: '114836', text: 'Jebaited' },
  { id: '81274', text: 'VoHiYo' },
  { id: '360', text: 'FailFish' },
  { id: '34', text: 'SwiftRage' },
  { id: '22639', text: 'BabyRage' },
  { id: '123171', text: 'CoolStoryBob' },
  { id: '58127', text: 'CoolCat' },
  { id: '36', text: 'PJSalt' },
  { id: 'emotesv2_5a8e1c4f7b2d4e6a9c3f0d8b5e2a7c1f', text: 'catJAM' },
  // Twitch's :) is an emote but no word: an emote count with no word count.
  { id: '1', text: ':)' }
]

const ALL_PUNCTUATION = /^\p{P}+$/u

export const EMOTES: readonly Emote[] = EMOTE_NAMES.map(({ id, text }) => {
  const lower = text.toLowerCase()
  if (ALL_PUNCTUATION.test(text)) return { id, text, word: null }
  if (!isCanonicalWord(lower)) throw new Error(`simulator emote "${text}" is neither a word nor all punctuation`)
  return { id, text, word: lower }
})

export const BOT_NICKS = ['fossabot', 'nightbot', 'streamelements', 'moobot', 'streamlabs', 'wizebot', 'sery_bot', 'soundalerts']

const CORE_ROOMS = [
  'xqc', 'forsen', 'kaicenat', 'gaules', 'ibai', 'asmongold', 'hasanabi', 'elraenn', 'auronplay', 'shroud',
  'pokimane', 'sodapoppin', 'lirik', 'summit1g', 'tarik', 'casimiro', 'loud_coringa', 'jynxzi', 'caseoh_', 'zackrawrr',
  'tfue', 'nickmercs', 'timthetatman', 'moonmoon', 'esl_csgo', 'riotgames', 'ninja', 'wtcn', 'jahrein',
  'kendinemuzisyen', 'unlostv', 'woowakgood', 'hanryang1125', 'zilioner', 'buster', 'evelone192', 'alanzoka',
  'baiano', 'elxokas', 'thegrefg', 'illojuan', 'elspreen', 'montanablack88', 'papaplatte', 'trymacs', 'zerator',
  'squeezie', 'domingo', 'kamet0', 'yulayabgu', 'napitec733', 'sanmery_', 'elnetv', 'slicyyyon60fps',
  'samiachanneltv', '4ozo', 'danthebnn', '4lveeri4no', 'sadparu', 'forsenlol_', 'nmplol', 'mizkif', 'erobb221',
  'tyler1', 'loltyler1', 'xcry', 'pestily', 'lvndmark', 'cohhcarnage', 'dansgaming'
]

const LATIN_ONSETS = ['b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'br', 'ch', 'cr', 'dr', 'fr', 'gr', 'pl', 'pr', 'sh', 'st', 'tr', 'th', '']
const LATIN_VOWELS = ['a', 'e', 'i', 'o', 'u', 'a', 'e', 'o', 'y', 'ai', 'ou']
const LATIN_CODAS = ['', '', '', 'n', 'r', 's', 'l', 'x', 'k', 'm', 't']
const ACCENTED_VOWELS = ['á', 'ã', 'é', 'ê', 'í', 'ó', 'õ', 'ú', 'ü', 'ö', 'ı', 'à', 'â', 'ç', 'ş', 'ğ', 'ñ']
const CYRILLIC_ONSETS = ['б', 'в', 'г', 'д', 'ж', 'з', 'к', 'л', 'м', 'н', 'п', 'р', 'с', 'т', 'ф', 'х', 'ц', 'ч', 'ш']
const CYRILLIC_VOWELS = ['а', 'е', 'и', 'о', 'у', 'ы', 'я', 'ю', 'ё']
const KANA = Array.from('あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわん')

/** One syllable of a Latin-script pseudo-word (lower-case, NFC), accented half the time when `accented`. */
export function latinSyllable (random: Random, accented: boolean): string {
  const vowel = accented && random.chance(0.5) ? random.pick(ACCENTED_VOWELS) : random.pick(LATIN_VOWELS)
  return random.pick(LATIN_ONSETS) + vowel + random.pick(LATIN_CODAS)
}

function repeat (random: Random, count: number, make: () => string): string {
  let text = ''
  for (let i = 0; i < count; i++) text += make()
  return text
}

function hangulSyllable (random: Random): string {
  // Precomposed syllables (U+AC00 block) are already NFC.
  return String.fromCharCode(0xac00 + (random.int(19) * 21 + random.int(21)) * 28 + (random.chance(0.4) ? random.int(28) : 0))
}

/** A pseudo-word in one of chat's scripts (Latin, accented Latin, Cyrillic, Hangul, kana) or an elongation or number; not always canonical. */
export function syntheticWord (random: Random): string {
  const kind = random.float()
  if (kind < 0.5) return repeat(random, 1 + random.int(3), () => latinSyllable(random, false))
  if (kind < 0.68) return repeat(random, 2 + random.int(2), () => latinSyllable(random, true))
  if (kind < 0.8) return repeat(random, 2 + random.int(2), () => random.pick(CYRILLIC_ONSETS) + random.pick(CYRILLIC_VOWELS))
  if (kind < 0.9) return repeat(random, 1 + random.int(3), () => hangulSyllable(random))
  if (kind < 0.96) return repeat(random, 2 + random.int(3), () => random.pick(KANA))
  // Elongations and numbers, as chat types them.
  if (random.chance(0.5)) return random.pick(['lo', 'po', 'ha', 'ja', 'k', 'ㅋ', 'w', 'xd']) + random.pick(['l', 'g', 'ha', 'ja', 'k', 'ㅋ', 'w', 'd']).repeat(2 + random.int(6))
  return String(random.int(100_000))
}

function readsBackAs (typed: string, word: string): boolean {
  return typed.normalize('NFC').toLowerCase() === word
}

function vocabularyWord (word: string): VocabularyWord {
  const first = word.codePointAt(0) as number
  const firstLength = first > 0xffff ? 2 : 1
  const capitalized = flatString(word.slice(0, firstLength).toUpperCase() + word.slice(firstLength))
  const upper = flatString(word.toUpperCase())
  const spellings = {
    word,
    capitalized: capitalized !== word && readsBackAs(capitalized, word) ? capitalized : null,
    upper: upper !== word && upper !== capitalized && readsBackAs(upper, word) ? upper : null
  }
  const decomposed = word.normalize('NFD')
  return {
    ...spellings,
    decomposed: decomposed === word
      ? null
      : {
          word: flatString(decomposed),
          capitalized: spellings.capitalized === null ? null : flatString(spellings.capitalized.normalize('NFD')),
          upper: spellings.upper === null ? null : flatString(spellings.upper.normalize('NFD'))
        }
  }
}

function buildVocabulary (): VocabularyWord[] {
  const random = new Random(POOL_SEED)
  const seen = new Set<string>()
  const words: string[] = []
  const emoteWords = new Set(EMOTES.map((emote) => emote.text.toLowerCase()))
  const add = (word: string): void => {
    // Emote names stay emotes: a word "kappa" typed without its tag would blur the emote counts' meaning.
    if (seen.has(word) || emoteWords.has(word) || !isCanonicalWord(word)) return
    seen.add(word)
    words.push(word)
  }
  for (const word of CORE_WORDS) {
    if (!isCanonicalWord(word)) throw new Error(`simulator vocabulary: "${word}" is not a canonical word`)
    add(word)
  }
  while (words.length < VOCABULARY_SIZE) add(syntheticWord(random))
  return words.map((word) => vocabularyWord(flatString(word)))
}

function asciiName (random: Random): string {
  const base = repeat(random, 1 + random.int(3), () => latinSyllable(random, false))
  const pattern = random.float()
  if (pattern < 0.3) return base + String(random.int(random.chance(0.5) ? 100 : 10_000))
  if (pattern < 0.45) return base + '_' + repeat(random, 1 + random.int(2), () => latinSyllable(random, false))
  if (pattern < 0.55) return base + '_'
  if (pattern < 0.62) return base + random.pick(['tv', 'ttv', 'live', 'gaming', 'plays', 'yt'])
  if (pattern < 0.66) return 'xx' + base + 'xx'
  if (pattern < 0.7) return String(random.int(10)) + base
  return base
}

/** `count` distinct login-style names: `core` first, then generated ones (never one of `reserved`), from a fixed seed. */
export function buildNames (count: number, core: readonly string[], reserved: readonly string[], seedOffset: number): string[] {
  const random = new Random(POOL_SEED + seedOffset)
  const seen = new Set<string>(reserved)
  const names: string[] = []
  for (const name of core) {
    seen.add(name)
    names.push(name)
  }
  while (names.length < count) {
    const name = asciiName(random)
    if (name.length < 3 || name.length > 25 || seen.has(name)) continue
    seen.add(name)
    names.push(name)
  }
  return names
}

/** The word pool, most frequent first. */
export const VOCABULARY: readonly VocabularyWord[] = buildVocabulary()
/** Room names with their `#`, most popular first. */
export const ROOMS: readonly string[] = buildNames(ROOM_COUNT, CORE_ROOMS, [], 1).map((name) => flatString('#' + name))
/** Nicks (login names, lower-case), bots excluded. */
export const NICKS: readonly string[] = buildNames(NICK_COUNT, [], BOT_NICKS, 2).map(flatString)

/** A Korean display name for the few users who set one (Twitch allows localised names). */
export function koreanDisplayName (random: Random): string {
  return flatString(repeat(random, 2 + random.int(4), () => hangulSyllable(random)))
}

export const WORD_ZIPF = new Zipf(VOCABULARY_SIZE, 1.0)
export const ROOM_ZIPF = new Zipf(ROOM_COUNT, 1.1)
export const EMOTE_ZIPF = new Zipf(EMOTES.length, 1.0)
/** Chatters inside one room: the most active few write most of its messages. */
export const CHATTER_ZIPF = new Zipf(8000, 0.9)
