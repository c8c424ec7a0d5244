// shimmy's public library API.
export { backendSamplingWithheld, loadModel, Model, type LoadOptions, type GenerateOptions, type GenerationRequest, type ModelInfo, type WorkerInfo } from './engine/model.js';
export { Generation, type Chunk, type CompletionResult, type FinishReason, type TokenLogprob, type Usage } from './engine/generation.js';
export { ShimmyError, ShimmyTypeError, errorCodes, errorRegistry, type ErrorCode, type LibraryErrorCode } from './engine/errors.js';
export { generationFields, parseGenerationOptions, type GenerationOptions } from './engine/options.js';
export { ReplyParser, chatLimits, type ChatMessage, type ChatRequest, type ChatTool, type ToolChoice, type RenderedChat, type ParsedReply } from './engine/chat.js';
export { native } from './native.js';
